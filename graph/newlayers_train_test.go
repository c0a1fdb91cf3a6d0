package graph_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// A small float32 network using every newer layer (grouped and depthwise convolutions,
// GroupNorm, LeakyReLU, GELU, AvgPool2d, LayerNorm on features, Dropout, Identity) trains on
// a fixed batch: its training and evaluation losses fall, and a capturing step fills the
// hook point of every weighted layer, each group of the grouped convolutions included.
func TestNewLayersTrain(t *testing.T) {
	const n, h, w, c, classes = 16, 6, 6, 4, 3
	net := graph.Sequential{
		graph.Image{H: h, W: w, C: c},
		&graph.Conv2d{Name: "conv1", In: c, Out: 8, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 2, Bias: true},
		graph.NewGroupNorm("gn", 2, 8),
		graph.LeakyReLU{Slope: 0.1},
		&graph.Conv2d{Name: "dw", In: 8, Out: 8, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 8},
		graph.GELU,
		graph.AvgPool2d{Kernel: 2},
		graph.Flatten{},
		graph.NewLayerNorm("ln", 3*3*8),
		&graph.Dropout{Name: "drop", P: 0.2, Seed: 1},
		graph.Identity,
		graph.NewLinear("fc", 3*3*8, classes),
	}
	store := graph.NewStore(tensor.Float32, 7)
	tr, err := train.NewTrainer(net, store, n, h*w*c)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := train.NewEvaluator(net, store, n, h*w*c)
	if err != nil {
		t.Fatal(err)
	}
	bt := newBatch(3, n, h*w*c, classes)
	evalLoss := func() float64 {
		l, _, err := ev.Evaluate(bt.x, bt.y)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	const steps, lr = 40, 0.1
	eval0 := evalLoss()
	var first, last float64
	for s := 0; s < steps; s++ {
		loss, _, err := tr.Run(bt.x, bt.y, s == steps-1)
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			first = loss
		}
		last = loss
		for i, p := range tr.Params() {
			g, err := tr.Grad(i)
			if err != nil {
				t.Fatal(err)
			}
			v := p.Value.Float32s()
			for j, d := range g.Float32s() {
				v[j] -= lr * d
			}
		}
	}
	eval1 := evalLoss()
	t.Logf("training loss %.4f → %.4f, evaluation loss %.4f → %.4f", first, last, eval0, eval1)
	if last > 0.7*first || eval1 > 0.7*eval0 {
		t.Errorf("training loss %.4f → %.4f, evaluation loss %.4f → %.4f over %d steps", first, last, eval0, eval1, steps)
	}
	var names []string
	for _, p := range tr.Hooks().Points() {
		names = append(names, p.Layer)
	}
	want := []string{"conv1.g1", "conv1.g2"}
	for k := 1; k <= 8; k++ {
		want = append(want, fmt.Sprintf("dw.g%d", k))
	}
	want = append(want, "fc")
	if !slices.Equal(names, want) {
		t.Fatalf("hook points %v, want %v", names, want)
	}
	if err := tr.Hooks().Complete(); err != nil {
		t.Fatal(err)
	}
	for _, p := range tr.Hooks().Points() {
		if p.X.Rows != p.G.Rows || p.X.F32 == nil || p.G.F32 == nil {
			t.Errorf("%s: X %d rows, G %d rows", p.Layer, p.X.Rows, p.G.Rows)
		}
	}
	// Parameters and buffers: scale/shift for both norms, the dropout's step counter.
	for _, name := range []string{"gn.scale", "gn.shift", "ln.scale", "ln.shift"} {
		if p := store.Param(name); p == nil || (p.Role != graph.Scale && p.Role != graph.Shift) {
			t.Errorf("parameter %s: %+v", name, p)
		}
	}
	if b := store.Buffer("drop.step"); b == nil || b.Value.Float32s()[0] != steps {
		t.Errorf("dropout counter after %d training steps: %v", steps, b)
	}
}
