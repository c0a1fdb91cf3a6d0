package netcurv

import (
	"math"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"gonum.org/v1/gonum/mat"
)

// softmaxRegression is a single linear layer (d inputs, C classes, with bias): its Hessian
// has the closed form H = (1/N) Σᵢ (x̃ᵢx̃ᵢᵀ) ⊗ (diag(pᵢ) − pᵢpᵢᵀ), x̃ = (x, 1), in the
// parameters' order (weight row-major d × C, then the bias as row d), and equals the GGN.
var softmaxRegression = nets.MLPSpec{Input: 4, Depth: 1, Classes: 3, Bias: true, Activation: graph.Tanh}

// closedForm returns that Hessian and Σᵢ‖x̃ᵢ‖⁴/N, Σᵢ‖x̃ᵢ‖/N.
func closedForm(t *testing.T, m *Model) (h *mat.SymDense, x4, x1 float64) {
	t.Helper()
	d, c, n := m.dim, m.classes, m.n
	z := make([]float64, n*c)
	if err := m.Logits(z); err != nil {
		t.Fatal(err)
	}
	p := probabilities(z, n, c)
	dim := (d + 1) * c
	h = mat.NewSymDense(dim, nil)
	for i := range n {
		xt := make([]float64, d+1)
		for a := range d {
			xt[a] = float64(m.x[i*d+a])
		}
		xt[d] = 1
		nx := norm(xt)
		x4 += math.Pow(nx, 4) / float64(n)
		x1 += nx / float64(n)
		pi := p[i*c : (i+1)*c]
		for a := range d + 1 {
			for k := range c {
				for b := range d + 1 {
					for l := range c {
						if a*c+k > b*c+l {
							continue
						}
						lam := -pi[k] * pi[l]
						if k == l {
							lam += pi[k]
						}
						h.SetSym(a*c+k, b*c+l, h.At(a*c+k, b*c+l)+xt[a]*xt[b]*lam/float64(n))
					}
				}
			}
		}
	}
	return h, x4, x1
}

// Softmax regression: the finite-difference Hessian and the GGN equal the closed form, and
// the Hessian product's error obeys the documented bound (h²/6)·M₃ + δ/h over a range of
// steps, with M₃ ≤ 7·(1/N)Σ‖x̃ᵢ‖⁴ (the fourth cumulant of a categorical variable with values
// bounded by A and B is at most 7A³B) and δ = 64·u·(1/N)Σ‖x̃ᵢ‖ (‖∇L‖ ≤ √2·(1/N)Σ‖x̃ᵢ‖).
func TestHessianSoftmaxRegression(t *testing.T) {
	m := newMLP(t, softmaxRegression, 10, 6)
	s, err := m.Select()
	if err != nil {
		t.Fatal(err)
	}
	want, x4, x1 := closedForm(t, m)
	h, err := m.Hessian(s, Options{Differences: true})
	if err != nil {
		t.Fatal(err)
	}
	exact, err := m.Hessian(s, Options{})
	if err != nil || !exact.Exact() {
		t.Fatalf("no exact Hessian of softmax regression (%v)", err)
	}
	g, err := m.GGN(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	eh, ee, eg := relFrob(dense(t, h), want), relFrob(dense(t, exact), want), relFrob(dense(t, g), want)
	t.Logf("‖H − closed form‖/‖H‖ = %.1e by differences, %.1e exact, GGN %.1e", eh, ee, eg)
	if eh > 1e-8 || ee > 1e-12 || eg > 1e-8 {
		t.Fatalf("Hessian %g by differences, %g exact, GGN %g from the closed form", eh, ee, eg)
	}

	theta := norm(s.Values())
	v := randomUnit(s.Dim(), 1)
	hv := make([]float64, s.Dim())
	mat.NewVecDense(len(hv), hv).MulVec(want, mat.NewVecDense(len(v), v))
	const u = 0x1p-53
	m3, delta := 7*x4, 64*u*x1
	got := make([]float64, s.Dim())
	errs := map[float64]float64{}
	for _, eps := range []float64{1e-1, 1e-2, 1e-3, DefaultStep, 1e-8, 1e-10, 1e-12} {
		op, _ := m.Hessian(s, Options{Differences: true, Step: eps})
		op.Apply(got, v)
		if op.Err() != nil {
			t.Fatal(op.Err())
		}
		e := 0.0
		for i := range got {
			e += (got[i] - hv[i]) * (got[i] - hv[i])
		}
		e = math.Sqrt(e)
		step := eps * theta
		bound := step*step/6*m3 + delta/step
		t.Logf("step %.1e: error %.2e, bound %.2e (truncation %.1e, rounding %.1e)", step, e, bound, step*step/6*m3, delta/step)
		if e > bound {
			t.Errorf("step %g: error %g above the bound %g", step, e, bound)
		}
		errs[eps] = e
	}
	// The two regimes: truncation ∝ step² (×100 per decade), rounding ∝ 1/step.
	if r := errs[1e-2] / errs[1e-3]; r < 80 || r > 120 {
		t.Errorf("truncation error ratio over a decade of steps %g, want ≈ 100", r)
	}
	if errs[1e-12] < 100*errs[DefaultStep] || errs[1e-12] < 100*errs[1e-8] {
		t.Errorf("rounding error does not grow as the step shrinks: %v", errs)
	}
}

// lossAt returns L(θ + a·v + b·w) over the selection.
func lossAt(t *testing.T, m *Model, s *Selection, a float64, v []float64, b float64, w []float64) float64 {
	t.Helper()
	dir := make([]float64, len(v))
	for i := range v {
		dir[i] = a*v[i] + b*w[i]
	}
	var l float64
	if err := s.perturbed(1, dir, func() (err error) { l, err = m.Loss(); return err }); err != nil {
		t.Fatal(err)
	}
	return l
}

// Networks (MLPs with tanh, ReLU, BatchNorm; CNNs with max pooling, BatchNorm): the bilinear form wᵀ(H v) of the gradient-difference
// product against the loss's own second difference along v and w,
// (L(+v+w) − L(+v−w) − L(−v+w) + L(−v−w))/(4k²) = wᵀHv + O(k²), an independent route that
// uses forward values only; and the product's symmetry wᵀ(Hv) = vᵀ(Hw).
func TestHessianBilinearForm(t *testing.T) {
	specs := map[string]nets.MLPSpec{
		"tanh": mlpPlain,
		"bn":   mlpBN,
		"relu": {Input: 4, Depth: 3, Width: 6, Classes: 3, Bias: true, Activation: graph.ReLU},
	}
	models := map[string]func(*testing.T) *Model{
		"cnn":    func(t *testing.T) *Model { return newCNN(t, cnnPlain, 4, 7) },
		"cnn-bn": func(t *testing.T) *Model { return newCNN(t, cnnBN, 4, 7) },
	}
	for name, spec := range specs {
		models[name] = func(t *testing.T) *Model { return newMLP(t, spec, 8, 7) }
	}
	for name, model := range models {
		t.Run(name, func(t *testing.T) {
			m := model(t)
			s, err := m.Select()
			if err != nil {
				t.Fatal(err)
			}
			if h, _ := m.Hessian(s, Options{}); !h.Exact() {
				t.Fatal("no exact product for this network")
			}
			for _, method := range []Options{{}, {Differences: true}} {
				bilinear(t, m, s, method)
			}
		})
	}
}

// bilinear checks one method's products against the second difference of the loss.
func bilinear(t *testing.T, m *Model, s *Selection, o Options) {
	t.Helper()
	h, err := m.Hessian(s, o)
	if err != nil {
		t.Fatal(err)
	}
	name := "differences"
	if h.Exact() {
		name = "exact"
	}
	hv, hw := make([]float64, s.Dim()), make([]float64, s.Dim())
	worst, asym := 0.0, 0.0
	for pair := range uint64(4) {
		v, w := randomUnit(s.Dim(), 10+pair), randomUnit(s.Dim(), 20+pair)
		h.Apply(hv, v)
		h.Apply(hw, w)
		if h.Err() != nil {
			t.Fatal(h.Err())
		}
		const k = 1e-4
		sd := (lossAt(t, m, s, k, v, k, w) - lossAt(t, m, s, k, v, -k, w) -
			lossAt(t, m, s, -k, v, k, w) + lossAt(t, m, s, -k, v, -k, w)) / (4 * k * k)
		scale := norm(hv)
		worst = math.Max(worst, math.Abs(dot(w, hv)-sd)/scale)
		asym = math.Max(asym, math.Abs(dot(w, hv)-dot(v, hw))/scale)
	}
	t.Logf("%s: |wᵀHv − second difference|/‖Hv‖ ≤ %.1e, |wᵀHv − vᵀHw|/‖Hv‖ ≤ %.1e", name, worst, asym)
	if worst > 1e-6 || asym > 1e-9 {
		t.Fatalf("%s: second difference %g, asymmetry %g", name, worst, asym)
	}
}
