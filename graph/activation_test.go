package graph_test

import (
	"math"
	"testing"

	"github.com/lwca/lwca/graph"
)

// LeakyReLU and GELU give their closed forms: GELU(x) = x·Φ(x) with Φ from a table of the
// standard normal distribution (not from erf), LeakyReLU x or Slope·x.
func TestActivationValues(t *testing.T) {
	phi := map[float64]float64{ // Φ(x), to 15 digits
		-2: 0.0227501319481792, -1: 0.158655253931457, -0.5: 0.308537538725987, 0: 0.5,
		0.5: 0.691462461274013, 1: 0.841344746068543, 2: 0.977249868051821, 3: 0.998650101968370,
	}
	var xs []float64
	for x := range phi {
		xs = append(xs, x)
	}
	n := len(xs)
	for _, tc := range []struct {
		name  string
		layer graph.Layer
		want  func(x float64) float64
	}{
		{"gelu", graph.GELU, func(x float64) float64 { return x * phi[x] }},
		{"leaky0.2", graph.LeakyReLU{Slope: 0.2}, func(x float64) float64 { return max(x, 0.2*x) }},
		{"leaky-default", graph.LeakyReLU{}, func(x float64) float64 { return max(x, 0.01*x) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := initParams(t, graph.Sequential{}, n, 1, 1)
			got, _ := forward(t, tc.layer, store, xs, n, 1)
			for i, x := range xs {
				if w := tc.want(x); math.Abs(got[i]-w) > 1e-14 {
					t.Errorf("f(%v) = %.16g, want %.16g", x, got[i], w)
				}
			}
		})
	}
	if err := graph.GELU.Valid(); err != nil {
		t.Error(err)
	}
}

// Gradients through LeakyReLU and GELU match central differences (the offset in front of the
// activation exposes ∂L/∂x), on images and on feature matrices.
func TestActivationGradients(t *testing.T) {
	const n, classes = 3, 3
	for name, act := range map[string]graph.Layer{
		"gelu": graph.GELU, "leaky": graph.LeakyReLU{Slope: 0.3},
	} {
		t.Run(name+"-features", func(t *testing.T) {
			net := graph.Sequential{graph.NewLinear("fc1", 4, 6), offset{"in"}, act, graph.NewLinear("fc2", 6, classes)}
			tr, store := newTrainer(t, net, n, 4, 2)
			randomize(store, 4, 0.7)
			checkGrads(t, tr, newBatch(5, n, 4, classes), 1e-7)
		})
		t.Run(name+"-images", func(t *testing.T) {
			net := graph.Sequential{graph.Image{H: 2, W: 3, C: 2}, offset{"in"}, act, graph.Flatten{},
				graph.NewLinear("fc", 12, classes)}
			tr, store := newTrainer(t, net, n, 12, 2)
			randomize(store, 4, 0.7)
			checkGrads(t, tr, newBatch(5, n, 12, classes), 1e-7)
		})
	}
}
