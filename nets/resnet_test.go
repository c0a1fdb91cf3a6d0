package nets_test

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"github.com/lwca/lwca/optim"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// build builds net once into a training graph and returns its store and hook layer names.
func build(t *testing.T, net graph.Layer, batch, dim int) (*graph.Store, []string, []int) {
	t.Helper()
	store := graph.NewStore(tensor.Float32, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, batch)
	out, err := net.Forward(b, b.Input("x", batch, dim))
	if err != nil {
		t.Fatal(err)
	}
	var hooks []string
	for _, p := range b.Hooks.Points() {
		hooks = append(hooks, p.Layer)
	}
	return store, hooks, out.Shape()
}

func names(store *graph.Store) []string {
	var out []string
	for _, p := range store.Params() {
		out = append(out, p.Name)
	}
	return out
}

// resnetParams is the parameter count of a CIFAR ResNet with option-A shortcuts, from its
// definition: 3×3 convolutions without bias, two BatchNorm parameters per channel, and the
// classifier.
func resnetParams(n int, widths [3]int, classes int, lastBN bool) int {
	total := 3*widths[0]*9 + 2*widths[0] // conv1, bn1
	in := widths[0]
	for _, w := range widths {
		for j := 0; j < n; j++ {
			total += in*w*9 + w*w*9 + 4*w
			in = w
		}
	}
	if lastBN {
		total += 2 * in
	}
	return total + in*classes + classes
}

func TestResNetStructure(t *testing.T) {
	const batch = 2
	net, err := nets.ResNet(nets.ResNetSpec{Depth: 20})
	if err != nil {
		t.Fatal(err)
	}
	store, hooks, out := build(t, net, batch, 32*32*3)
	if !slices.Equal(out, []int{batch, 10}) {
		t.Errorf("logits shape %v, want (%d, 10)", out, batch)
	}
	count := 0
	for _, p := range store.Params() {
		count += p.Value.Size()
	}
	// 269,722 for ResNet-20, the figure of He et al.'s "0.27M".
	if want := resnetParams(3, [3]int{16, 32, 64}, 10, false); count != want || count != 269722 {
		t.Errorf("ResNet-20 has %d parameters, want %d (269722)", count, want)
	}
	// 19 convolutions and the classifier, named by position.
	if len(hooks) != 20 || hooks[0] != "conv1" || hooks[19] != "fc" {
		t.Fatalf("hook points %v", hooks)
	}
	want := []string{"conv1"}
	for s := 1; s <= 3; s++ {
		for b := 1; b <= 3; b++ {
			want = append(want, fmt.Sprintf("stage%d.block%d.conv1", s, b), fmt.Sprintf("stage%d.block%d.conv2", s, b))
		}
	}
	if !slices.Equal(hooks[:19], want) {
		t.Errorf("hook points %v\nwant %v", hooks, want)
	}
	for _, name := range []string{"bn1.scale", "stage2.block3.bn1.scale", "stage3.block1.bn2.shift", "stage2.block3.conv1.weight", "fc.bias"} {
		if store.Param(name) == nil {
			t.Errorf("no parameter %s in %v", name, names(store))
		}
	}
	if w := store.Param("stage3.block2.conv1.weight"); !slices.Equal(w.Value.Shape(), []int{3 * 3 * 64, 64}) {
		t.Errorf("stage3 weight shape %v", w.Value.Shape())
	}
}

// The last-BN network is the original plus one BatchNorm named fc_bn between pooling and the
// classifier; nothing else differs, and it has 2·64 more parameters.
func TestResNetLastBNDiffersOnlyByFinalBN(t *testing.T) {
	orig, err := nets.ResNet(nets.ResNetSpec{Depth: 14, Input: [3]int{8, 8, 3}})
	if err != nil {
		t.Fatal(err)
	}
	last, err := nets.ResNet(nets.ResNetSpec{Depth: 14, Input: [3]int{8, 8, 3}, Form: nets.LastBN})
	if err != nil {
		t.Fatal(err)
	}
	so, ho, _ := build(t, orig, 2, 8*8*3)
	sl, hl, _ := build(t, last, 2, 8*8*3)
	if !slices.Equal(ho, hl) {
		t.Errorf("hook points differ:\n%v\n%v", ho, hl)
	}
	no, nl := names(so), names(sl)
	i := slices.Index(nl, "fc_bn.scale")
	if i < 0 || nl[i+1] != "fc_bn.shift" || nl[i+2] != "fc.weight" {
		t.Fatalf("fc_bn is not just before fc: %v", nl)
	}
	if !slices.Equal(slices.Delete(slices.Clone(nl), i, i+2), no) {
		t.Errorf("parameters differ beyond fc_bn:\n%v\n%v", no, nl)
	}
	if len(sl.Buffers()) != len(so.Buffers())+2 {
		t.Errorf("%d buffers, want the original's %d plus fc_bn's two", len(sl.Buffers()), len(so.Buffers()))
	}
	// In the layer list, the only difference is one BatchNorm(64) after the pooling.
	if len(last) != len(orig)+1 {
		t.Fatalf("%d layers, original %d", len(last), len(orig))
	}
	bn, ok := last[len(last)-2].(*graph.BatchNorm)
	if !ok || bn.Name != "fc_bn" || bn.C != 64 {
		t.Errorf("layer before fc is %#v", last[len(last)-2])
	}
	if _, ok := last[len(last)-3].(graph.GlobalAvgPool); !ok {
		t.Errorf("fc_bn does not follow the global pooling")
	}
}

func TestResNetVariantsNames(t *testing.T) {
	b, err := nets.ResNet(nets.ResNetSpec{Depth: 8, Input: [3]int{8, 8, 3}, Shortcut: nets.ShortcutB})
	if err != nil {
		t.Fatal(err)
	}
	store, hooks, _ := build(t, b, 2, 8*8*3)
	// Projections only where resolution or width change: the first block of stages 2 and 3.
	want := []string{"conv1", "stage1.block1.conv1", "stage1.block1.conv2",
		"stage2.block1.conv1", "stage2.block1.conv2", "stage2.block1.shortcut",
		"stage3.block1.conv1", "stage3.block1.conv2", "stage3.block1.shortcut", "fc"}
	if !slices.Equal(hooks, want) {
		t.Errorf("option B hooks %v\nwant %v", hooks, want)
	}
	if p := store.Param("stage2.block1.shortcut.weight"); p == nil || !slices.Equal(p.Value.Shape(), []int{16, 32}) {
		t.Errorf("projection weight %v", p)
	}
	if store.Param("stage3.block1.shortcut_bn.scale") == nil {
		t.Error("no shortcut_bn")
	}
	pre, err := nets.ResNet(nets.ResNetSpec{Depth: 8, Input: [3]int{8, 8, 3}, Form: nets.PreAct})
	if err != nil {
		t.Fatal(err)
	}
	store, _, _ = build(t, pre, 2, 8*8*3)
	got := names(store)
	if store.Param("bn1.scale") != nil || store.Param("bn_final.scale") == nil || store.Param("stage1.block1.bn1.scale") == nil {
		t.Errorf("pre-activation parameters %v", got)
	}
	if !slices.Equal(store.Param("stage1.block1.bn1.scale").Value.Shape(), []int{16}) ||
		!slices.Equal(store.Param("stage2.block1.bn1.scale").Value.Shape(), []int{16}) {
		t.Error("pre-activation block BN does not normalise the block input")
	}
}

func TestResNetSpecErrors(t *testing.T) {
	for _, spec := range []nets.ResNetSpec{
		{Depth: 21}, {Depth: 2}, {Depth: 0}, {Depth: 9},
		{Depth: 20, Form: "wide"}, {Depth: 20, Shortcut: "C"},
		{Depth: 20, Input: [3]int{32, 0, 3}}, {Depth: 20, Widths: [3]int{16, 8, 64}},
		{Depth: 20, ConvMode: "pixels"},
	} {
		_, err := nets.ResNet(spec)
		if err == nil {
			t.Errorf("%+v: no error", spec)
		} else if spec.Depth != 20 && !strings.Contains(err.Error(), "6n+2") {
			t.Errorf("depth %d: error %q does not say 6n+2", spec.Depth, err)
		}
	}
	for depth, want := range map[int]int{8: 1, 20: 3, 56: 9, 110: 18} {
		if n, err := nets.Blocks(depth); err != nil || n != want {
			t.Errorf("Blocks(%d) = %d, %v", depth, n, err)
		}
	}
}

// fitBatch trains net on one fixed batch and returns the losses of each step.
func fitBatch(t *testing.T, net graph.Layer, dt tensor.Dtype, batch, dim, steps int, lr float64) []float64 {
	t.Helper()
	tr, err := train.NewTrainer(net, graph.NewStore(dt, 3), batch, dim)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	x := make([]float32, batch*dim)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, batch)
	for i := range y {
		y[i] = int32(i % 10)
	}
	var weights []*tensor.Dense
	for _, p := range tr.Params() {
		weights = append(weights, p.Value)
	}
	opt := optim.NewSGD(optim.SGDConfig{Momentum: 0.9})
	var losses []float64
	for s := 0; s < steps; s++ {
		loss, _, err := tr.Run(x, y, s == 0)
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			if err := tr.Hooks().Complete(); err != nil {
				t.Fatal(err)
			}
		}
		grads, err := tr.Grads()
		if err != nil {
			t.Fatal(err)
		}
		if err := opt.Step(weights, grads, lr); err != nil {
			t.Fatal(err)
		}
		losses = append(losses, loss)
	}
	return losses
}

// A ResNet-8 of every form memorises a small fixed batch: its loss falls well below the
// initial ≈ ln 10 within 20 steps.
func TestResNetTrainsOnFixedBatch(t *testing.T) {
	for _, spec := range []nets.ResNetSpec{
		{Form: nets.Original}, {Form: nets.PreAct}, {Form: nets.LastBN}, {Form: nets.Original, Shortcut: nets.ShortcutB},
	} {
		t.Run(fmt.Sprintf("%s_%s", spec.Form, cmp.Or(spec.Shortcut, nets.ShortcutA)), func(t *testing.T) {
			spec.Depth, spec.Input = 8, [3]int{8, 8, 3}
			net, err := nets.ResNet(spec)
			if err != nil {
				t.Fatal(err)
			}
			losses := fitBatch(t, net, tensor.Float32, 16, 8*8*3, 20, 0.05)
			t.Logf("losses %.3f", losses)
			first, last := losses[0], losses[len(losses)-1]
			if math.IsNaN(last) || last > 0.5*first {
				t.Errorf("loss %.3f → %.3f over 20 steps: %v", first, last, losses)
			}
		})
	}
}

// The float32 network computes what the float64 one does, to float32 precision: the same
// store seed gives the same weights, and one step gives the same loss and gradients.
func TestResNetFloat32MatchesFloat64(t *testing.T) {
	net, err := nets.ResNet(nets.ResNetSpec{Depth: 8, Input: [3]int{6, 6, 3}})
	if err != nil {
		t.Fatal(err)
	}
	const batch, dim = 4, 6 * 6 * 3
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, batch*dim)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := []int32{1, 2, 3, 4}
	var losses [2]float64
	var grads [2][][]float64
	for k, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		tr, err := train.NewTrainer(net, graph.NewStore(dt, 9), batch, dim)
		if err != nil {
			t.Fatal(err)
		}
		if losses[k], _, err = tr.Run(x, y, false); err != nil {
			t.Fatal(err)
		}
		gs, err := tr.Grads()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			var v []float64
			switch d := g.Data().(type) {
			case []float32:
				for _, f := range d {
					v = append(v, float64(f))
				}
			case []float64:
				v = d
			}
			grads[k] = append(grads[k], v)
		}
	}
	if math.Abs(losses[0]-losses[1]) > 1e-5*losses[1] {
		t.Errorf("loss float32 %v, float64 %v", losses[0], losses[1])
	}
	for i := range grads[1] {
		scale := 0.0
		for _, v := range grads[1][i] {
			scale = math.Max(scale, math.Abs(v))
		}
		for j, v := range grads[1][i] {
			if math.Abs(grads[0][i][j]-v) > 1e-3*scale+1e-7 {
				t.Fatalf("gradient %d[%d]: float32 %v, float64 %v", i, j, grads[0][i][j], v)
			}
		}
	}
}
