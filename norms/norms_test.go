package norms_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/norms"
	"github.com/lwca/lwca/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func randomX(seed uint64, n int) ([]float32, []float64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	x32, x64 := make([]float32, n), make([]float64, n)
	for i := range x32 {
		x32[i] = float32(rng.NormFloat64()*2 + 0.5)
		x64[i] = float64(x32[i])
	}
	return x32, x64
}

// run builds net in a fresh evaluation graph over store and returns its output for x.
func run(t *testing.T, net graph.Layer, store *graph.Store, x []float64, n, dim int) []float64 {
	t.Helper()
	g := graph.NewExprGraph()
	b := graph.NewBuilder(g, store, graph.Eval, n)
	in := b.Input("x", n, dim)
	copy(in.Value().(*tensor.Dense).Float64s(), x)
	out, err := net.Forward(b, in)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return append([]float64(nil), out.Value().(*tensor.Dense).Float64s()...)
}

// setParams fills the store's parameters with distinct values, so that γ and β matter.
func setParams(store *graph.Store) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, p := range store.Params() {
		for i := range p.Value.Float64s() {
			p.Value.Float64s()[i] = 1 + 0.5*rng.NormFloat64()
		}
	}
}

// Forward values equal the definition: for each sample and group (GroupNorm) or each position
// (LayerNorm), subtract the mean, divide by √(var + ε), then scale and shift per channel.
func TestForwardMatchesDefinition(t *testing.T) {
	const n, h, w, c = 3, 2, 3, 6
	cases := []struct {
		name  string
		layer graph.Layer
		shape []int // per-sample shape, channels last
		set   func(b, pos, ch int) string
	}{
		{"groupnorm-images", norms.NewGroupNorm("gn", 3, c), []int{h, w, c}, func(b, _, ch int) string { return fmt.Sprint(b, ch/2) }},
		{"groupnorm-features", norms.NewGroupNorm("gn", 2, c), []int{c}, func(b, _, ch int) string { return fmt.Sprint(b, ch/3) }},
		{"instancenorm", norms.NewGroupNorm("gn", c, c), []int{h, w, c}, func(b, _, ch int) string { return fmt.Sprint(b, ch) }},
		{"layernorm-images", norms.NewLayerNorm("ln", c), []int{h, w, c}, func(b, pos, _ int) string { return fmt.Sprint(b, pos) }},
		{"layernorm-features", norms.NewLayerNorm("ln", c), []int{c}, func(b, _, _ int) string { return fmt.Sprint(b) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dim, positions := 1, 1
			for _, d := range tc.shape {
				dim *= d
			}
			positions = dim / c
			var net graph.Sequential
			if len(tc.shape) == 3 {
				net = append(net, graph.Image{H: h, W: w, C: c})
			}
			net = append(net, tc.layer)
			store := graph.NewStore(tensor.Float64, 1)
			run(t, net, store, make([]float64, n*dim), n, dim) // creates the parameters
			setParams(store)
			var gamma, beta []float64
			for _, p := range store.Params() {
				if p.Role == graph.Scale {
					gamma = p.Value.Float64s()
				} else {
					beta = p.Value.Float64s()
				}
			}
			_, x := randomX(2, n*dim)
			got := run(t, net, store, x, n, dim)
			// Group the values by set, from the case's own rule.
			sets := map[string][]int{}
			for b := 0; b < n; b++ {
				for pos := 0; pos < positions; pos++ {
					for ch := 0; ch < c; ch++ {
						k := tc.set(b, pos, ch)
						sets[k] = append(sets[k], (b*positions+pos)*c+ch)
					}
				}
			}
			for _, idx := range sets {
				mean, v := 0.0, 0.0
				for _, i := range idx {
					mean += x[i]
				}
				mean /= float64(len(idx))
				for _, i := range idx {
					v += (x[i] - mean) * (x[i] - mean)
				}
				std := math.Sqrt(v/float64(len(idx)) + 1e-5)
				for _, i := range idx {
					want := (x[i]-mean)/std*gamma[i%c] + beta[i%c]
					if math.Abs(got[i]-want) > 1e-12 {
						t.Fatalf("y[%d] = %v, want %v", i, got[i], want)
					}
				}
			}
		})
	}
}

// Gradients with respect to the input (through an offset parameter), γ and β match central
// differences of the loss of a small network, for images and feature matrices.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	const n, classes = 3, 3
	for name, mk := range map[string]func() (graph.Sequential, int){
		"groupnorm-images": func() (graph.Sequential, int) {
			return graph.Sequential{graph.Image{H: 2, W: 3, C: 4}, &offset{}, norms.NewGroupNorm("gn", 2, 4), graph.Tanh,
				graph.Flatten{}, graph.NewLinear("fc", 24, classes)}, 24
		},
		"groupnorm-features": func() (graph.Sequential, int) {
			return graph.Sequential{graph.NewLinear("fc1", 5, 6), norms.NewGroupNorm("gn", 3, 6), graph.Tanh, graph.NewLinear("fc2", 6, classes)}, 5
		},
		"layernorm-images": func() (graph.Sequential, int) {
			return graph.Sequential{graph.Image{H: 3, W: 2, C: 3}, &offset{}, norms.NewLayerNorm("ln", 3), graph.Tanh,
				graph.Flatten{}, graph.NewLinear("fc", 18, classes)}, 18
		},
		"layernorm-features": func() (graph.Sequential, int) {
			return graph.Sequential{graph.NewLinear("fc1", 4, 5), norms.NewLayerNorm("ln", 5), graph.Tanh, graph.NewLinear("fc2", 5, classes)}, 4
		},
	} {
		t.Run(name, func(t *testing.T) {
			net, dim := mk()
			store := graph.NewStore(tensor.Float64, 5)
			tr, err := train.NewTrainer(net, store, n, dim)
			if err != nil {
				t.Fatal(err)
			}
			var size int64 // the model-size check counts what the store holds (offset does not count itself)
			for _, p := range store.Params() {
				size += int64(p.Value.Size())
			}
			if got := graph.CountParams(net); !strings.HasSuffix(name, "-images") && got != size {
				t.Errorf("CountParams = %d, the store holds %d", got, size)
			}
			setParams(store)
			x, _ := randomX(6, n*dim)
			y := []int32{0, 2, 1}
			if _, _, err := tr.Run(x, y, false); err != nil {
				t.Fatal(err)
			}
			grads, err := tr.Grads()
			if err != nil {
				t.Fatal(err)
			}
			var want [][]float64
			for _, g := range grads {
				want = append(want, append([]float64(nil), g.Float64s()...))
			}
			const eps = 1e-6
			for pi, p := range tr.Params() {
				w := p.Value.Float64s()
				for j := range w {
					orig := w[j]
					w[j] = orig + eps
					lp, _, _ := tr.Run(x, y, false)
					w[j] = orig - eps
					lm, _, _ := tr.Run(x, y, false)
					w[j] = orig
					fd := (lp - lm) / (2 * eps)
					if got := want[pi][j]; math.Abs(fd-got) > 1e-7*math.Max(1, math.Abs(fd)) {
						t.Fatalf("∂L/∂%s[%d] = %v, central difference %v", p.Name, j, got, fd)
					}
				}
			}
		})
	}
}

// offset adds a zero-initialised parameter of the input's shape, exposing ∂L/∂x as a
// parameter gradient.
type offset struct{}

func (offset) Forward(b *graph.Builder, x *G.Node) (*G.Node, error) {
	p, err := b.Param("offset", "value", graph.Bias, x.Shape(), 1, 1, graph.Constant(0))
	if err != nil {
		return nil, err
	}
	return G.Add(x, p)
}

func TestErrors(t *testing.T) {
	store := graph.NewStore(tensor.Float32, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 2)
	x := b.Input("x", 2, 3, 3, 6)
	for _, l := range []graph.Layer{
		norms.NewGroupNorm("g4", 4, 6), // 4 does not divide 6
		norms.NewGroupNorm("g0", 0, 6),
		norms.NewGroupNorm("c5", 1, 5),
		norms.NewLayerNorm("l5", 5),
	} {
		if _, err := l.Forward(b, x); err == nil {
			t.Errorf("%+v accepted (2, 3, 3, 6)", l)
		}
	}
	if _, err := norms.NewLayerNorm("vec", 6).Forward(b, b.Input("v", 6)); err == nil {
		t.Error("LayerNorm accepted a vector")
	}
}

// The layers run in float32 graphs too and agree with float64.
func TestFloat32(t *testing.T) {
	net := graph.Sequential{graph.Image{H: 2, W: 2, C: 4}, norms.NewGroupNorm("gn", 2, 4), norms.NewLayerNorm("ln", 4)}
	x32, x64 := randomX(1, 2*16)
	s64 := graph.NewStore(tensor.Float64, 1)
	y64 := run(t, net, s64, x64, 2, 16)
	s32 := graph.NewStore(tensor.Float32, 1)
	g := graph.NewExprGraph()
	b := graph.NewBuilder(g, s32, graph.Eval, 2)
	in := b.Input("x", 2, 16)
	copy(in.Value().(*tensor.Dense).Float32s(), x32)
	out, err := net.Forward(b, in)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	for i, v := range out.Value().(*tensor.Dense).Float32s() {
		if math.Abs(float64(v)-y64[i]) > 1e-5 {
			t.Fatalf("float32 y[%d] = %v, float64 %v", i, v, y64[i])
		}
	}
}

func ExampleNewGroupNorm() {
	net := graph.Sequential{
		graph.Image{H: 8, W: 8, C: 3},
		graph.NewConv2d("conv1", 3, 16, 3, 1, 1), norms.NewGroupNorm("gn1", 4, 16), graph.ReLU,
		graph.GlobalAvgPool{}, norms.NewLayerNorm("ln", 16), graph.NewLinear("fc", 16, 10),
	}
	store := graph.NewStore(tensor.Float32, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 4)
	logits, err := net.Forward(b, b.Input("x", 4, 8*8*3))
	if err != nil {
		panic(err)
	}
	fmt.Println(logits.Shape())
	for _, p := range store.Params() {
		fmt.Println(p.Name, p.Role, p.Value.Shape())
	}
	// Output:
	// (4, 10)
	// conv1.weight weight (27, 16)
	// gn1.scale scale (16)
	// gn1.shift shift (16)
	// ln.scale scale (16)
	// ln.shift shift (16)
	// fc.weight weight (16, 10)
	// fc.bias bias (10)
}
