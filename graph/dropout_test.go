package graph_test

import (
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// dropRun is a training-mode graph of one layer, run repeatedly.
type dropRun struct {
	g   *G.ExprGraph
	vm  G.VM
	in  *tensor.Dense
	out *G.Node
}

func newDropRun(t *testing.T, l graph.Layer, store *graph.Store, n, dim int, freeze bool) *dropRun {
	t.Helper()
	g := graph.NewExprGraph()
	b := graph.NewBuilder(g, store, graph.Train, n)
	b.FreezeStats = freeze
	in := b.Input("x", n, dim)
	out, err := l.Forward(b, in)
	if err != nil {
		t.Fatal(err)
	}
	return &dropRun{g: g, vm: G.NewTapeMachine(g, G.WithEngine(graph.Engine)), in: in.Value().(*tensor.Dense), out: out}
}

func (r *dropRun) run(t *testing.T, x []float64) []float64 {
	t.Helper()
	copy(r.in.Float64s(), x)
	defer r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return append([]float64(nil), r.out.Value().(*tensor.Dense).Float64s()...)
}

// wantMask is the documented rule, written out: run s keeps element i iff the i-th Float64 of
// PCG(FNV-1a(store seed, Seed, Name), s) is at least P.
func wantMask(storeSeed, seed uint64, name string, s uint64, p float64, n int) []bool {
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], storeSeed)
	binary.LittleEndian.PutUint64(b[8:], seed)
	h.Write(b[:])
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(h.Sum64(), s))
	keep := make([]bool, n)
	for i := range keep {
		keep[i] = rng.Float64() >= p
	}
	return keep
}

// Training runs follow the documented mask rule with inverted scaling and a fresh mask per
// run; FreezeStats graphs reuse the next run's mask without advancing; evaluation graphs are
// the identity; and a store restored from another's parameters and buffers continues its
// mask sequence exactly (a resumed run).
func TestDropoutMasks(t *testing.T) {
	const n, dim, p = 4, 50, 0.3
	l := &graph.Dropout{Name: "drop", P: p, Seed: 9}
	store := graph.NewStore(tensor.Float64, 5)
	bt := newBatch(1, n, dim, 2)
	tr := newDropRun(t, l, store, n, dim, false)
	probe := newDropRun(t, l, store, n, dim, true)
	check := func(y []float64, s uint64) {
		t.Helper()
		kept := 0
		for i, keep := range wantMask(5, 9, "drop", s, p, n*dim) {
			want := 0.0
			if keep {
				want = bt.x64[i] * (1 / (1 - p))
				kept++
			}
			if y[i] != want {
				t.Fatalf("run %d: y[%d] = %v, want %v", s, i, y[i], want)
			}
		}
		if kept < n*dim/2 || kept == n*dim {
			t.Fatalf("run %d kept %d of %d", s, kept, n*dim)
		}
	}
	var first []float64
	for s := uint64(0); s < 3; s++ {
		check(probe.run(t, bt.x64), s) // the mask the next training run will use
		y := tr.run(t, bt.x64)
		check(y, s)
		if s == 0 {
			first = y
		}
	}
	if eq(first, tr.run(t, bt.x64)) {
		t.Fatal("two training runs drew the same mask")
	}
	// Resume: a new store holding this one's state continues with run 4.
	resumed := graph.NewStore(tensor.Float64, 5)
	r := newDropRun(t, l, resumed, n, dim, false)
	for i, b := range store.Buffers() {
		copy(resumed.Buffers()[i].Value.Float64s(), b.Value.Float64s())
	}
	check(r.run(t, bt.x64), 4)
	// Evaluation graphs pass the input through.
	if y, _ := forward(t, l, store, bt.x64, n, dim); !eq(y, bt.x64) {
		t.Fatal("dropout changed its input in an evaluation graph")
	}
	// Another seed, store seed or name gives another mask.
	for _, other := range []*dropRun{
		newDropRun(t, &graph.Dropout{Name: "drop", P: p, Seed: 10}, graph.NewStore(tensor.Float64, 5), n, dim, false),
		newDropRun(t, l, graph.NewStore(tensor.Float64, 6), n, dim, false),
		newDropRun(t, &graph.Dropout{Name: "drop2", P: p, Seed: 9}, graph.NewStore(tensor.Float64, 5), n, dim, false),
	} {
		if eq(other.run(t, bt.x64), first) {
			t.Fatal("a different seed or name drew the same mask")
		}
	}
}

func eq(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The step counter survives float32 storage beyond 2²⁴ runs.
func TestDropoutCounterInFloat32(t *testing.T) {
	store := graph.NewStore(tensor.Float32, 1)
	l := &graph.Dropout{Name: "d", P: 0.5}
	g := graph.NewExprGraph()
	b := graph.NewBuilder(g, store, graph.Train, 1)
	if _, err := l.Forward(b, b.Input("x", 1, 4)); err != nil {
		t.Fatal(err)
	}
	step := store.Buffer("d.step").Value.Float32s()
	const s = 1<<24 + 3 // float32 cannot hold s + 1 as one number
	step[0], step[1] = s%(1<<20), s/(1<<20)
	vm := G.NewTapeMachine(g, G.WithEngine(graph.Engine))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	if got := uint64(step[1])<<20 + uint64(step[0]); got != s+1 {
		t.Fatalf("counter %d after a run from %d", got, s)
	}
}

// The gradient through dropout is ∂L/∂y times the run's mask: central differences on a probe
// graph (whose mask stays fixed from run to run) agree.
func TestDropoutGradients(t *testing.T) {
	const n, classes = 3, 3
	for name, net := range map[string]graph.Sequential{
		"features": {graph.NewLinear("fc1", 4, 8), &graph.Dropout{Name: "drop", P: 0.4, Seed: 1}, graph.Tanh, graph.NewLinear("fc2", 8, classes)},
		"images": {graph.Image{H: 2, W: 2, C: 1}, offset{"in"}, &graph.Dropout{Name: "drop", P: 0.5}, graph.Tanh,
			graph.Flatten{}, graph.NewLinear("fc", 4, classes)},
	} {
		t.Run(name, func(t *testing.T) {
			store := graph.NewStore(tensor.Float64, 3)
			dim := 4
			tr, err := train.NewProbe(net, store, n, dim)
			if err != nil {
				t.Fatal(err)
			}
			randomize(store, 4, 0.8)
			checkGrads(t, tr, newBatch(5, n, dim, classes), 1e-7)
		})
	}
}

func TestDropoutErrors(t *testing.T) {
	store := graph.NewStore(tensor.Float64, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 2)
	x := b.Input("x", 2, 3)
	for _, l := range []*graph.Dropout{{Name: "a", P: 1}, {Name: "b", P: -0.1}, {P: 0.5}} {
		if _, err := l.Forward(b, x); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
	if y, err := (&graph.Dropout{Name: "zero"}).Forward(b, x); err != nil || y != x {
		t.Errorf("P = 0 is not the identity: %v", err)
	}
}

// Two layers with one name would share a step counter: the second is refused.
func TestDropoutNamesAreUnique(t *testing.T) {
	store := graph.NewStore(tensor.Float64, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 2)
	net := graph.Sequential{&graph.Dropout{Name: "d", P: 0.5}, &graph.Dropout{Name: "d", P: 0.5}}
	if _, err := net.Forward(b, b.Input("x", 2, 3)); err == nil {
		t.Fatal("two dropout layers named d accepted")
	}
}
