package netcurv

import (
	"math"
	"slices"
	"testing"

	"github.com/lwca/lwca/curvature"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
)

// BatchNorm scale invariance: scaling the W that feeds a BN by α leaves the function of the
// other parameters unchanged and L(αW) = L(W) as a function of W, so W's blocks of H, GGN
// and EF are divided by α² (up to BN's ε) and the next layer's blocks do not change.
func TestBatchNormScaleInvariance(t *testing.T) {
	// BN's ε, which breaks the invariance at O(ε/Var h), is made negligible.
	spec := nets.MLPSpec{Input: 4, Depth: 3, Width: 5, Classes: 3, Activation: graph.Tanh, Norm: nets.BatchNorm, BNEps: 1e-14}
	m := newMLP(t, spec, 8, 9)
	top := func(layer string) [3]float64 {
		s, err := m.Weights(layer)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := m.Hessian(s, Options{})
		g, err := m.GGN(s, Options{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := m.EF(s)
		if err != nil {
			t.Fatal(err)
		}
		var out [3]float64
		for i, op := range []curvature.Operator{h, g, e} {
			r, err := curvature.Lanczos(op, curvature.LanczosOptions{K: 1, Seed: 1, Tol: 1e-7})
			if err != nil {
				t.Fatal(err)
			}
			out[i] = r.Values[0]
		}
		return out
	}
	before1, before2 := top("fc1"), top("fc2")
	const alpha = 4
	w := m.store.Param("fc1.weight").Value.Data().([]float64)
	for i := range w {
		w[i] *= alpha
	}
	after1, after2 := top("fc1"), top("fc2")
	for i, name := range []string{"H", "GGN", "EF"} {
		r1 := before1[i] / after1[i] / (alpha * alpha)
		r2 := before2[i] / after2[i]
		t.Logf("%s: fc1 λmax %.6g → %.6g (ratio/α² − 1 = %.1e), fc2 %.6g → %.6g (%.1e)", name, before1[i], after1[i], r1-1, before2[i], after2[i], r2-1)
		if math.Abs(r1-1) > 1e-8 || math.Abs(r2-1) > 1e-8 {
			t.Errorf("%s: fc1 ratio/α² = %g, fc2 ratio = %g", name, r1, r2)
		}
	}
}

// Lanczos on the matrix-free operators of a whole network against the dense eigenvalues of
// the same operators, and the block bounds max_k λmax(M_kk) ≤ λmax(M) ≤ Σ_k λmax(M_kk) for
// the PSD ones (GGN and EF).
func TestWholeNetworkAndBlocks(t *testing.T) {
	m := newMLP(t, mlpPlain, 8, 11)
	all, err := m.Select()
	if err != nil {
		t.Fatal(err)
	}
	weights, err := m.Weights()
	if err != nil {
		t.Fatal(err)
	}
	h, _ := m.Hessian(all, Options{})
	g, err := m.GGN(weights, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := m.EF(weights)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		op   curvature.Operator
	}{{"H", h}, {"GGN", g}, {"EF", e}} {
		ev := eigen(t, dense(t, c.op))
		r, err := curvature.Lanczos(c.op, curvature.LanczosOptions{K: 3, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range r.Values {
			want := ev[len(ev)-1-i]
			if math.Abs(v-want) > 1e-8*math.Abs(ev[len(ev)-1]) {
				t.Errorf("%s: Lanczos λ%d = %.12g, dense %.12g", c.name, i+1, v, want)
			}
		}
		t.Logf("%s: top 3 %.6g in %d matvecs (converged %v)", c.name, r.Values, r.Iterations, r.Converged)
	}
	for _, c := range []struct {
		name string
		make func(*Selection) (curvature.Operator, error)
	}{
		{"GGN", func(s *Selection) (curvature.Operator, error) { return m.GGN(s, Options{}) }},
		{"EF", func(s *Selection) (curvature.Operator, error) { return m.EF(s) }},
	} {
		lmax := func(s *Selection) float64 {
			op, err := c.make(s)
			if err != nil {
				t.Fatal(err)
			}
			ev := eigen(t, dense(t, op))
			return ev[len(ev)-1]
		}
		whole := lmax(weights)
		largest, sum := 0.0, 0.0
		for _, layer := range []string{"fc1", "fc2", "fc3"} {
			s, _ := m.Weights(layer)
			l := lmax(s)
			largest, sum = math.Max(largest, l), sum+l
		}
		t.Logf("%s: max block λmax %.5g ≤ λmax %.5g ≤ Σ block λmax %.5g", c.name, largest, whole, sum)
		if largest > whole*(1+1e-10) || whole > sum*(1+1e-10) {
			t.Errorf("%s: block bounds violated", c.name)
		}
	}
}

// Products leave the model as they found it: parameters bit for bit, BatchNorm running
// statistics and dropout counters untouched.
func TestProductsLeaveModelUntouched(t *testing.T) {
	m := newMLP(t, mlpBN, 6, 12)
	snapshot := func() [][]float64 {
		var out [][]float64
		for _, p := range m.store.Params() {
			out = append(out, slices.Clone(p.Value.Data().([]float64)))
		}
		for _, b := range m.store.Buffers() {
			out = append(out, slices.Clone(b.Value.Data().([]float64)))
		}
		return out
	}
	before := snapshot()
	all, _ := m.Select()
	weights, _ := m.Weights()
	h, _ := m.Hessian(all, Options{})
	g, err := m.GGN(all, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := m.EF(weights)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []curvature.Operator{h, g, e} {
		v := randomUnit(op.Dim(), 3)
		op.Apply(make([]float64, op.Dim()), v)
	}
	after := snapshot()
	for i := range before {
		if !slices.Equal(before[i], after[i]) {
			t.Fatalf("value %d of the model changed", i)
		}
	}
	if len(m.store.Buffers()) == 0 {
		t.Fatal("no BatchNorm buffers to check")
	}
}
