package graph_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// offset adds a zero-initialised parameter of its input's full shape. The parameter's gradient
// is ∂L/∂x, so central differences of the loss in it check the gradient that flows into x, and
// placed after a weighted layer it exposes ∂L/∂h for comparison with the hook's capture.
type offset struct{ name string }

func (l offset) Forward(b *graph.Builder, x *G.Node) (*G.Node, error) {
	p, err := b.Param(l.name, "offset", graph.Bias, x.Shape(), 1, 1, graph.Constant(0))
	if err != nil {
		return nil, err
	}
	return G.Add(x, p)
}

// batch is a random input batch with labels; x64 holds the same values as float64.
type batch struct {
	x   []float32
	x64 []float64
	y   []int32
}

func newBatch(seed uint64, n, dim, classes int) batch {
	rng := rand.New(rand.NewPCG(seed, 99))
	b := batch{x: make([]float32, n*dim), x64: make([]float64, n*dim), y: make([]int32, n)}
	for i := range b.x {
		b.x[i] = float32(rng.NormFloat64())
		b.x64[i] = float64(b.x[i])
	}
	for i := range b.y {
		b.y[i] = int32(rng.IntN(classes))
	}
	return b
}

// randomize refills every parameter with N(0, std²) values, so that biases, shifts and
// offsets are not at their zero initialisation (which can hide a wrong gradient).
func randomize(store *graph.Store, seed uint64, std float64) {
	rng := rand.New(rand.NewPCG(seed, 5))
	for _, p := range store.Params() {
		for i := range p.Value.Float64s() {
			p.Value.Float64s()[i] = rng.NormFloat64() * std
		}
	}
}

// gradsOf returns copies of the trainer's parameter gradients after a run on bt.
func gradsOf(t *testing.T, tr *train.Trainer, bt batch, capture bool) (float64, [][]float64) {
	t.Helper()
	loss, _, err := tr.Run(bt.x, bt.y, capture)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]float64
	for i := range tr.Params() {
		g, err := tr.Grad(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]float64(nil), g.Float64s()...))
	}
	return loss, out
}

// checkGrads compares every parameter gradient of tr at bt with central differences of the
// loss, relative tolerance tol.
func checkGrads(t *testing.T, tr *train.Trainer, bt batch, tol float64) {
	t.Helper()
	_, grads := gradsOf(t, tr, bt, false)
	loss := func() float64 {
		l, _, err := tr.Run(bt.x, bt.y, false)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	const eps = 1e-6
	bad := 0
	for i, p := range tr.Params() {
		w := p.Value.Float64s()
		for j := range w {
			orig := w[j]
			w[j] = orig + eps
			lp := loss()
			w[j] = orig - eps
			lm := loss()
			w[j] = orig
			fd := (lp - lm) / (2 * eps)
			if got := grads[i][j]; math.Abs(fd-got) > tol*math.Max(1, math.Abs(fd)) {
				t.Errorf("∂L/∂%s[%d] = %.10g, central difference %.10g", p.Name, j, got, fd)
				if bad++; bad > 5 {
					t.FailNow()
				}
			}
		}
	}
}

// newTrainer builds a float64 trainer for net on n samples of dim inputs.
func newTrainer(t *testing.T, net graph.Layer, n, dim int, seed uint64) (*train.Trainer, *graph.Store) {
	t.Helper()
	store := graph.NewStore(tensor.Float64, seed)
	tr, err := train.NewTrainer(net, store, n, dim)
	if err != nil {
		t.Fatal(err)
	}
	return tr, store
}

// forward runs net on x (n×dim) in an evaluation graph and returns its output's values and shape.
func forward(t *testing.T, net graph.Layer, store *graph.Store, x []float64, n, dim int) ([]float64, tensor.Shape) {
	t.Helper()
	g := graph.NewExprGraph()
	b := graph.NewBuilder(g, store, graph.Eval, n)
	in := b.Input("x", n, dim)
	copy(in.Value().(*tensor.Dense).Float64s(), x)
	out, err := net.Forward(b, in)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.WithEngine(graph.Engine))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	v := out.Value().(*tensor.Dense)
	return append([]float64(nil), v.Float64s()[:v.Size()]...), v.Shape().Clone()
}

func closeTo(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

func param(t *testing.T, store *graph.Store, name string) []float64 {
	t.Helper()
	p := store.Param(name)
	if p == nil {
		t.Fatalf("no parameter %s", name)
	}
	return p.Value.Float64s()
}

// initParams creates net's parameters in a new float64 store by building it once.
func initParams(t *testing.T, net graph.Layer, n, dim int, seed uint64) *graph.Store {
	t.Helper()
	store := graph.NewStore(tensor.Float64, seed)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Eval, n)
	if _, err := net.Forward(b, b.Input("x", n, dim)); err != nil {
		t.Fatal(err)
	}
	return store
}

// runGraph runs g once and returns the values of out, its last node.
func runGraph(t *testing.T, g *G.ExprGraph, out *G.Node) []float64 {
	t.Helper()
	vm := G.NewTapeMachine(g, G.WithEngine(graph.Engine))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	v := out.Value().(*tensor.Dense)
	return append([]float64(nil), v.Float64s()[:v.Size()]...)
}
