package netcurv

import (
	"math"
	"slices"
	"testing"

	"github.com/lwca/lwca/curvature/rop"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"gonum.org/v1/gonum/mat"
)

// A ResNet with three blocks (depth 8: option-A shortcuts with strides, BatchNorm in train
// mode, global pooling) on 4×4×2 images.
var resnetTiny = nets.ResNetSpec{Depth: 8, Input: [3]int{4, 4, 2}, Classes: 3, Widths: [3]int{2, 3, 4}}

func newResNet(t testing.TB, spec nets.ResNetSpec, n int, seed uint64) *Model {
	t.Helper()
	net, err := nets.ResNet(spec)
	if err != nil {
		t.Fatal(err)
	}
	return newModel(t, net, spec.Input[0]*spec.Input[1]*spec.Input[2], spec.Classes, n, seed)
}

// exactModels are small networks of every layer type with an R-operator.
func exactModels() map[string]func(t *testing.T) *Model {
	return map[string]func(t *testing.T) *Model{
		"mlp-tanh": func(t *testing.T) *Model { return newMLP(t, mlpPlain, 8, 3) },
		"mlp-bn":   func(t *testing.T) *Model { return newMLP(t, mlpBN, 8, 3) },
		"mlp-relu": func(t *testing.T) *Model {
			return newMLP(t, nets.MLPSpec{Input: 4, Depth: 3, Width: 6, Classes: 3, Bias: true, Activation: graph.ReLU, Norm: nets.BatchNorm}, 8, 3)
		},
		"mlp-sig": func(t *testing.T) *Model {
			return newMLP(t, nets.MLPSpec{Input: 4, Depth: 2, Width: 5, Classes: 3, Activation: graph.Sigmoid}, 8, 3)
		},
		"cnn":     func(t *testing.T) *Model { return newCNN(t, cnnPlain, 4, 3) },
		"cnn-bn":  func(t *testing.T) *Model { return newCNN(t, cnnBN, 4, 3) },
		"resnet8": func(t *testing.T) *Model { return newResNet(t, resnetTiny, 4, 3) },
		"resnet8-pre": func(t *testing.T) *Model {
			s := resnetTiny
			s.Form = nets.PreAct
			return newResNet(t, s, 4, 3)
		},
	}
}

// The exact product's dense matrix against the brute-force one of central differences (whose
// own accuracy the finite-difference tests establish): they agree to 1e-8, and the exact
// matrix is symmetric to rounding, without symmetrisation. The differences use a relative
// step of 1e-6: the tiny ResNet's third derivatives are large enough that the default step's
// truncation error (∝ step²) reaches 3e-8 along some coordinates.
func TestExactHessianMatchesDifferences(t *testing.T) {
	for name, model := range exactModels() {
		t.Run(name, func(t *testing.T) {
			m := model(t)
			s, err := m.Select()
			if err != nil {
				t.Fatal(err)
			}
			exact, err := m.Hessian(s, Options{})
			if err != nil || !exact.Exact() {
				t.Fatalf("no exact product (%v)", err)
			}
			fd, _ := m.Hessian(s, Options{Differences: true, Step: 1e-6})
			n := s.Dim()
			raw := mat.NewDense(n, n, nil)
			col, e := make([]float64, n), make([]float64, n)
			for j := range n {
				e[j] = 1
				exact.Apply(col, e)
				raw.SetCol(j, col)
				e[j] = 0
			}
			if exact.Err() != nil {
				t.Fatal(exact.Err())
			}
			var asym mat.Dense
			asym.Sub(raw, raw.T())
			a := mat.Norm(&asym, 2) / mat.Norm(raw, 2)
			d := relFrob(raw, dense(t, fd))
			t.Logf("%d parameters: ‖H_exact − H_differences‖/‖H‖ = %.1e, asymmetry %.1e", n, d, a)
			if d > 1e-8 || a > 1e-12 {
				t.Fatalf("exact product off the differences by %g, asymmetric by %g", d, a)
			}
		})
	}
}

// The program's own forward and backward passes give Gorgonia's loss and gradient.
func TestExactProgramGradient(t *testing.T) {
	for name, model := range exactModels() {
		t.Run(name, func(t *testing.T) {
			m := model(t)
			s, err := m.Select()
			if err != nil {
				t.Fatal(err)
			}
			p, err := rop.Compile[float64](m.net, m.store, m.n, m.dim)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Prepare(m.x, m.y); err != nil {
				t.Fatal(err)
			}
			got, want := make([]float64, s.Dim()), make([]float64, s.Dim())
			if err := p.Gradient(s.Params, got); err != nil {
				t.Fatal(err)
			}
			if err := m.Gradient(s, want); err != nil {
				t.Fatal(err)
			}
			l, err := m.Loss()
			if err != nil {
				t.Fatal(err)
			}
			if d := relDiff(got, want); d > 1e-12 || math.Abs(p.Loss()-l) > 1e-12*math.Abs(l) {
				t.Fatalf("gradient off by %g, loss %v vs %v", d, p.Loss(), l)
			}
		})
	}
}

// Blocks: the product over one layer's weight is the corresponding block of the whole
// Hessian's product (v zero elsewhere), for a lower and a top layer.
func TestExactHessianBlocks(t *testing.T) {
	m := newResNet(t, resnetTiny, 4, 5)
	all, err := m.Select()
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := m.Hessian(all, Options{})
	for _, layer := range []string{"conv1", "stage2.block1.conv1", "fc"} {
		s, err := m.Weights(layer)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := m.Hessian(s, Options{})
		off := all.Offset(slices.Index(all.Params, s.Params[0]))
		v := randomUnit(s.Dim(), 9)
		big := make([]float64, all.Dim())
		copy(big[off:], v)
		hw, hb := make([]float64, all.Dim()), make([]float64, s.Dim())
		whole.Apply(hw, big)
		block.Apply(hb, v)
		if d := relDiff(hb, hw[off:off+s.Dim()]); d > 1e-13 {
			t.Errorf("%s: block product off the whole product's block by %g", layer, d)
		}
	}
}

// worstOf returns the largest relative difference between the products of a and of b (over
// the whole network) along three random directions.
func worstOf(t *testing.T, m *Model, a, b Options, seed uint64) (float64, *Hessian) {
	t.Helper()
	s, err := m.Select()
	if err != nil {
		t.Fatal(err)
	}
	ha, _ := m.Hessian(s, a)
	hb, _ := m.Hessian(s, b)
	if !a.Differences && !ha.Exact() {
		t.Fatal("the first operator is not exact")
	}
	x, y := make([]float64, s.Dim()), make([]float64, s.Dim())
	worst := 0.0
	for k := range uint64(3) {
		v := randomUnit(s.Dim(), seed+k)
		ha.Apply(x, v)
		hb.Apply(y, v)
		if ha.Err() != nil || hb.Err() != nil {
			t.Fatal(ha.Err(), hb.Err())
		}
		worst = math.Max(worst, relDiff(x, y))
	}
	return worst, hb
}

// float32 products are float64's to single-precision accuracy.
func TestExactHessianSingle(t *testing.T) {
	for _, name := range []string{"mlp-bn", "resnet8"} {
		if d, _ := worstOf(t, exactModels()[name](t), Options{Single: true}, Options{}, 30); d > 1e-4 || d == 0 {
			t.Errorf("%s: float32 product off by %g", name, d)
		}
	}
}

// ReLU MLP with BatchNorm on a batch large enough that a finite-difference step crosses
// kinks (with the step 1e-4 that the refinement tests use, which crosses them for certain):
// the exact product is the refined differences' derivative on the smooth piece.
func TestExactHessianReLUPieces(t *testing.T) {
	m := newMLP(t, nets.MLPSpec{Input: 20, Depth: 3, Width: 64, Classes: 5, Bias: true, Activation: graph.ReLU, Norm: nets.BatchNorm}, 256, 13)
	d, fd := worstOf(t, m, Options{}, Options{Differences: true, Step: 1e-4}, 50)
	if st := fd.Stats(); d > 1e-6 || st.Unresolved > 0 || st.Refined == 0 {
		t.Fatalf("exact product off the refined differences by %g (%+v)", d, st)
	}
}

// Layers without an R-operator fall back to differences.
func TestExactHessianFallback(t *testing.T) {
	m := newMLP(t, nets.MLPSpec{Input: 4, Depth: 2, Width: 5, Classes: 3, Activation: graph.GELU}, 8, 3)
	s, err := m.Select()
	if err != nil {
		t.Fatal(err)
	}
	h, err := m.Hessian(s, Options{})
	if err != nil || h.Exact() {
		t.Fatalf("GELU network: exact %v, error %v; want the differences", h.Exact(), err)
	}
	bilinear(t, m, s, Options{})
}
