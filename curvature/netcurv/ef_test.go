package netcurv

import (
	"math"
	"slices"
	"testing"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/graph"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// perSampleEF forms (1/N) Σᵢ ∇ℓᵢ∇ℓᵢᵀ over s from N backward passes, each with only sample i
// labelled: the loss is then ℓᵢ itself. Valid without BatchNorm (samples independent).
func perSampleEF(t *testing.T, m *Model, s *Selection) *mat.SymDense {
	t.Helper()
	ef := mat.NewSymDense(s.Dim(), nil)
	g := make([]float64, s.Dim())
	for i := range m.n {
		y := slices.Repeat([]int32{graph.Ignore}, m.n)
		y[i] = m.y[i]
		if _, _, err := m.probe.Run(m.x, y, false); err != nil {
			t.Fatal(err)
		}
		if err := m.gather(s, g, m.probe.Params(), m.probe.Grad); err != nil {
			t.Fatal(err)
		}
		ef.SymRankOne(ef, 1/float64(m.n), mat.NewVecDense(len(g), g))
	}
	return ef
}

// The matrix-free EF equals the mean outer product of per-sample gradients from separate
// backward passes: a linear layer stack, and a convolution (a sum over output positions).
func TestEFMatchesPerSampleGradients(t *testing.T) {
	for _, c := range []struct {
		name string
		m    func(*testing.T) *Model
	}{
		{"mlp", func(t *testing.T) *Model { return newMLP(t, mlpPlain, 7, 1) }},
		{"cnn", func(t *testing.T) *Model { return newCNN(t, cnnPlain, 5, 2) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.m(t)
			s, err := m.Weights()
			if err != nil {
				t.Fatal(err)
			}
			op, err := m.EF(s)
			if err != nil {
				t.Fatal(err)
			}
			got, want := dense(t, op), perSampleEF(t, m, s)
			e := relFrob(got, want)
			t.Logf("%d weights: ‖EF − brute force‖/‖EF‖ = %.1e", s.Dim(), e)
			if e > 1e-12 {
				t.Fatalf("relative error %g", e)
			}
		})
	}
}

// Per layer, the EF block's spectrum is the exact block analysis.KFACFidelity computes
// (kfac_exact_*) from the same captures by an N × N route; with BatchNorm here.
func TestEFMatchesKFACExact(t *testing.T) {
	m := newMLP(t, mlpBN, 9, 3)
	caps, err := m.capture()
	if err != nil {
		t.Fatal(err)
	}
	for _, layer := range []string{"fc1", "fc2", "fc3"} {
		s, err := m.Weights(layer)
		if err != nil {
			t.Fatal(err)
		}
		op, err := m.EF(s)
		if err != nil {
			t.Fatal(err)
		}
		ev := eigen(t, dense(t, op))
		slices.Reverse(ev)
		c := caps[layer]
		fid, err := analysis.KFACFidelity(c.x, c.g, m.n, c.d, c.m, []float64{1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := fid.Exact.Values
		if len(want) != len(ev) {
			t.Fatalf("%s: %d eigenvalues, fidelity has %d", layer, len(ev), len(want))
		}
		worst := 0.0
		for i := range ev {
			worst = math.Max(worst, math.Abs(math.Max(ev[i], 0)-want[i])/want[0])
		}
		t.Logf("%s (%d weights): λmax %.6g, spectra agree to %.1e of λmax", layer, len(ev), ev[0], worst)
		if worst > 1e-12 {
			t.Fatalf("%s: spectra differ by %g of λmax", layer, worst)
		}
	}
}

// Parameters that are not layer weights have no per-sample capture.
func TestEFRefusesNonWeights(t *testing.T) {
	m := newMLP(t, mlpBN, 4, 1)
	s, err := m.Select("fc1.bias")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.EF(s); err == nil {
		t.Fatal("EF accepted a bias")
	}
}

// The K-FAC operator's spectrum is every product T·λi(Σx)·λj(Σ∇h) of its factors' spectra
// (analysis.KroneckerSpectrum), for a linear layer and a convolution (T = 16 positions).
func TestKFACOperator(t *testing.T) {
	for _, c := range []struct {
		name, layer string
		m           func(*testing.T) *Model
	}{
		{"mlp", "fc2", func(t *testing.T) *Model { return newMLP(t, mlpBN, 7, 1) }},
		{"cnn", "conv1", func(t *testing.T) *Model { return newCNN(t, cnnPlain, 5, 2) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.m(t)
			s, err := m.Weights(c.layer)
			if err != nil {
				t.Fatal(err)
			}
			k, err := m.KFAC(s)
			if err != nil {
				t.Fatal(err)
			}
			ev := eigen(t, dense(t, k))
			slices.Reverse(ev)
			sx, sg := k.Factors()
			ex, err := analysis.Eigen(sx, nil)
			if err != nil {
				t.Fatal(err)
			}
			eg, err := analysis.Eigen(sg, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := analysis.KroneckerSpectrum(ex, eg).Values
			worst := 0.0
			for i := range ev {
				worst = math.Max(worst, math.Abs(ev[i]-float64(k.Positions())*want[i])/ev[0])
			}
			t.Logf("%s: T = %d, λmax %.6g, spectra agree to %.1e of λmax", c.layer, k.Positions(), ev[0], worst)
			if worst > 1e-12 {
				t.Fatalf("spectra differ by %g of λmax", worst)
			}
		})
	}
}

// A grouped convolution's weight (two groups, each its own hook point and output columns) in
// the EF: against per-sample gradients again.
func TestEFGroupedConvolution(t *testing.T) {
	net := graph.Sequential{
		graph.Image{H: 4, W: 4, C: 4},
		&graph.Conv2d{Name: "conv", In: 4, Out: 6, KH: 3, KW: 3, Pad: 1, Groups: 2, Bias: true},
		graph.Tanh,
		graph.Flatten{},
		graph.NewLinear("fc", 4*4*6, 3),
	}
	x, y := batch(5, 64, 3, 8)
	m, err := New(net, graph.NewStore(tensor.Float64, 8), x, y, 64)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Weights("conv", "fc")
	if err != nil {
		t.Fatal(err)
	}
	op, err := m.EF(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(op.blocks) != 3 {
		t.Fatalf("%d blocks, want two groups and the classifier", len(op.blocks))
	}
	e := relFrob(dense(t, op), perSampleEF(t, m, s))
	t.Logf("%d weights: ‖EF − brute force‖/‖EF‖ = %.1e", s.Dim(), e)
	if e > 1e-12 {
		t.Fatalf("relative error %g", e)
	}
}
