package graph_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Scaled is a layer type defined outside lwca through the public API only: h = x·W / √In.
type Scaled struct {
	Name    string
	In, Out int
}

func (l *Scaled) Forward(b *graph.Builder, x *G.Node) (*G.Node, error) {
	hp, err := b.HookPoint(l.Name)
	if err != nil {
		return nil, err
	}
	w, err := b.Param(l.Name, "weight", graph.Weight, []int{l.In, l.Out}, l.In, l.Out, graph.HeNormal)
	if err != nil {
		return nil, err
	}
	if x, err = b.TapInput(hp, x); err != nil {
		return nil, err
	}
	h, err := G.Mul(x, w)
	if err != nil {
		return nil, err
	}
	s := 1 / math.Sqrt(float64(l.In))
	var c *G.Node
	if b.Dtype() == tensor.Float32 {
		c = G.NewConstant(float32(s))
	} else {
		c = G.NewConstant(s)
	}
	if h, err = G.HadamardProd(h, c); err != nil {
		return nil, err
	}
	return b.TapOutput(hp, h)
}

// A user-defined weighted layer is trained and analysed like a built-in one: its hooks
// capture X and the per-sample gradients G, and the weight gradient of the mean loss equals
// Xᵀ·G / (N·√In), the sum of the per-sample outer products.
func TestUserDefinedLayer(t *testing.T) {
	const n, in, hidden, classes = 9, 7, 5, 3
	net := graph.Sequential{&Scaled{Name: "scaled", In: in, Out: hidden}, graph.Tanh, graph.NewLinear("out", hidden, classes)}
	store := graph.NewStore(tensor.Float64, 2)
	tr, err := train.NewTrainer(net, store, n, in)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, n*in)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(i % classes)
	}
	if _, _, err := tr.Run(x, y, true); err != nil {
		t.Fatal(err)
	}
	p := tr.Hooks().Point("scaled")
	if p == nil || !p.X.Valid() || !p.G.Valid() {
		t.Fatalf("no capture for the user-defined layer: %+v", p)
	}
	for i, v := range x {
		if p.X.F64[i] != float64(v) {
			t.Fatalf("captured x[%d] = %v, want %v", i, p.X.F64[i], v)
		}
	}
	var grad *tensor.Dense
	for i, prm := range tr.Params() {
		if prm.Name == "scaled.weight" {
			grad, _ = tr.Grad(i)
		}
	}
	gw := grad.Data().([]float64)
	for a := 0; a < in; a++ {
		for b := 0; b < hidden; b++ {
			want := 0.0
			for r := 0; r < n; r++ {
				want += p.X.F64[r*in+a] * p.G.F64[r*hidden+b]
			}
			want /= n * math.Sqrt(in)
			if got := gw[a*hidden+b]; math.Abs(got-want) > 1e-12 {
				t.Fatalf("∂L/∂W[%d,%d] = %v, Σ per-sample outer products %v", a, b, got, want)
			}
		}
	}
}

func ExampleSequential() {
	net := graph.Sequential{graph.NewLinear("fc1", 4, 8), graph.ReLU, graph.NewLinear("fc2", 8, 2)}
	store := graph.NewStore(tensor.Float32, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 16)
	logits, err := net.Forward(b, b.Input("x", 16, 4))
	if err != nil {
		panic(err)
	}
	fmt.Println(logits.Shape())
	for _, p := range store.Params() {
		fmt.Println(p.Name, p.Role, p.Value.Shape())
	}
	for _, h := range b.Hooks.Points() {
		fmt.Println("hook", h.Layer)
	}
	// Output:
	// (16, 2)
	// fc1.weight weight (4, 8)
	// fc1.bias bias (8)
	// fc2.weight weight (8, 2)
	// fc2.bias bias (2)
	// hook fc1
	// hook fc2
}
