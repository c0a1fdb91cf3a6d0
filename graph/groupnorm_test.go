package graph_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/norms"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// normCase is a GroupNorm or LayerNorm on images or feature matrices, with the rule, in
// words, of which values share statistics.
type normCase struct {
	name     string
	layer    graph.Layer
	ref      graph.Layer // package norms' implementation of the same layer
	h, w, c  int         // h = w = 0: a feature matrix (N, C)
	setOf    func(b, pos, ch int) string
	channels int
}

func normCases() []normCase {
	return []normCase{
		{"groupnorm-images", graph.NewGroupNorm("n", 3, 6), norms.NewGroupNorm("n", 3, 6), 2, 3, 6,
			func(b, _, ch int) string { return fmt.Sprint(b, ch/2) }, 6},
		{"groupnorm-features", graph.NewGroupNorm("n", 2, 6), norms.NewGroupNorm("n", 2, 6), 0, 0, 6,
			func(b, _, ch int) string { return fmt.Sprint(b, ch/3) }, 6},
		{"instancenorm", graph.NewGroupNorm("n", 4, 4), norms.NewGroupNorm("n", 4, 4), 3, 2, 4,
			func(b, _, ch int) string { return fmt.Sprint(b, ch) }, 4},
		{"layernorm-images", graph.NewLayerNorm("n", 5), norms.NewLayerNorm("n", 5), 2, 2, 5,
			func(b, pos, _ int) string { return fmt.Sprint(b, pos) }, 5},
		{"layernorm-features", &graph.LayerNorm{Name: "n", C: 5, Eps: 1e-3}, &norms.LayerNorm{Name: "n", C: 5, Eps: 1e-3}, 0, 0, 5,
			func(b, _, _ int) string { return fmt.Sprint(b) }, 5},
	}
}

func (c normCase) net(l graph.Layer) (graph.Sequential, int) {
	if c.h == 0 {
		return graph.Sequential{l}, c.c
	}
	return graph.Sequential{graph.Image{H: c.h, W: c.w, C: c.c}, l}, c.h * c.w * c.c
}

func (c normCase) eps() float64 {
	if l, ok := c.layer.(*graph.LayerNorm); ok && l.Eps != 0 {
		return l.Eps
	}
	return 1e-5
}

// GroupNorm and LayerNorm give the definition, set by set, with γ and β away from 1 and 0, in
// evaluation and training graphs alike; package norms' independent implementation agrees.
func TestGroupLayerNormForward(t *testing.T) {
	const n = 3
	for _, c := range normCases() {
		t.Run(c.name, func(t *testing.T) {
			net, dim := c.net(c.layer)
			store := initParams(t, net, n, dim, 1)
			randomize(store, 8, 1)
			gamma, beta := param(t, store, "n.scale"), param(t, store, "n.shift")
			bt := newBatch(2, n, dim, 2)
			got, _ := forward(t, net, store, bt.x64, n, dim)
			sets := map[string][]int{}
			for b := 0; b < n; b++ {
				for pos := 0; pos < dim/c.c; pos++ {
					for ch := 0; ch < c.c; ch++ {
						k := c.setOf(b, pos, ch)
						sets[k] = append(sets[k], (b*dim/c.c+pos)*c.c+ch)
					}
				}
			}
			x := bt.x64
			for _, idx := range sets {
				mean, v := 0.0, 0.0
				for _, i := range idx {
					mean += x[i] / float64(len(idx))
				}
				for _, i := range idx {
					v += (x[i] - mean) * (x[i] - mean) / float64(len(idx))
				}
				for _, i := range idx {
					want := (x[i]-mean)/math.Sqrt(v+c.eps())*gamma[i%c.c] + beta[i%c.c]
					if !closeTo(got[i], want, 1e-12) {
						t.Fatalf("y[%d] = %v, definition %v", i, got[i], want)
					}
				}
			}
			refNet, _ := c.net(c.ref)
			ref, _ := forward(t, refNet, store, x, n, dim)
			train := trainForward(t, net, store, x, n, dim)
			for i := range got {
				if !closeTo(ref[i], got[i], 1e-13) || train[i] != got[i] {
					t.Fatalf("y[%d] = %v, package norms %v, training graph %v", i, got[i], ref[i], train[i])
				}
			}
		})
	}
}

// trainForward runs net's forward pass in a training graph.
func trainForward(t *testing.T, net graph.Layer, store *graph.Store, x []float64, n, dim int) []float64 {
	t.Helper()
	g := graph.NewExprGraph()
	b := graph.NewBuilder(g, store, graph.Train, n)
	in := b.Input("x", n, dim)
	copy(in.Value().(*tensor.Dense).Float64s(), x)
	out, err := net.Forward(b, in)
	if err != nil {
		t.Fatal(err)
	}
	return runGraph(t, g, out)
}

// Gradients with respect to the input, γ and β match central differences.
func TestGroupLayerNormGradients(t *testing.T) {
	const n, classes = 3, 3
	for _, c := range normCases() {
		t.Run(c.name, func(t *testing.T) {
			body, dim := c.net(c.layer)
			var net graph.Sequential
			if c.h == 0 {
				net = graph.Sequential{graph.NewLinear("fc0", 4, c.c), c.layer, graph.Tanh, graph.NewLinear("fc", c.c, classes)}
				dim = 4
			} else {
				net = graph.Sequential{body[0], offset{"in"}, c.layer, graph.Tanh, graph.Flatten{}, graph.NewLinear("fc", dim, classes)}
			}
			tr, store := newTrainer(t, net, n, dim, 2)
			randomize(store, 4, 0.8)
			checkGrads(t, tr, newBatch(5, n, dim, classes), 1e-7)
		})
	}
}

// Float32 graphs agree with float64 to float32 precision.
func TestGroupLayerNormFloat32(t *testing.T) {
	const n = 2
	for _, c := range normCases() {
		t.Run(c.name, func(t *testing.T) {
			net, dim := c.net(c.layer)
			bt := newBatch(3, n, dim, 2)
			want, _ := forward(t, net, initParams(t, net, n, dim, 1), bt.x64, n, dim)
			s32 := graph.NewStore(tensor.Float32, 1)
			g := graph.NewExprGraph()
			b := graph.NewBuilder(g, s32, graph.Eval, n)
			in := b.Input("x", n, dim)
			copy(in.Value().(*tensor.Dense).Float32s(), bt.x)
			out, err := net.Forward(b, in)
			if err != nil {
				t.Fatal(err)
			}
			vm := G.NewTapeMachine(g, G.WithEngine(graph.Engine))
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			for i, v := range out.Value().(*tensor.Dense).Float32s() {
				if math.Abs(float64(v)-want[i]) > 1e-5 {
					t.Fatalf("float32 y[%d] = %v, float64 %v", i, v, want[i])
				}
			}
		})
	}
}

func TestGroupLayerNormErrors(t *testing.T) {
	store := graph.NewStore(tensor.Float64, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 2)
	x := b.Input("x", 2, 3, 3, 6)
	for _, l := range []graph.Layer{
		graph.NewGroupNorm("g4", 4, 6), // 4 does not divide 6
		graph.NewGroupNorm("g0", 0, 6),
		graph.NewGroupNorm("c5", 1, 5),
		graph.NewLayerNorm("l5", 5),
		&graph.LayerNorm{Name: "neg", C: 6, Eps: -1},
	} {
		if _, err := l.Forward(b, x); err == nil {
			t.Errorf("%+v accepted (2, 3, 3, 6)", l)
		}
	}
	if _, err := graph.NewLayerNorm("vec", 6).Forward(b, b.Input("v", 6)); err == nil {
		t.Error("LayerNorm accepted a vector")
	}
}
