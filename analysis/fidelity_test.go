package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// explicitFidelity builds F = (1/N) Σ (xᵢxᵢᵀ) ⊗ (gᵢgᵢᵀ) and A⊗B entry by
// entry from their definitions and returns the eigenvalues of both,
// sorted in descending order, and ‖F − A⊗B‖_F / ‖F‖_F.
func explicitFidelity(x, g []float64, n, d, m int) (exact, kfac []float64, rel float64) {
	p := d * m
	f := mat.NewSymDense(p, nil)
	k := mat.NewSymDense(p, nil)
	a := make([]float64, d*d)
	b := make([]float64, m*m)
	for i := range n {
		xi, gi := x[i*d:(i+1)*d], g[i*m:(i+1)*m]
		for r := range d {
			for s := range d {
				a[r*d+s] += xi[r] * xi[s] / float64(n)
			}
		}
		for r := range m {
			for s := range m {
				b[r*m+s] += gi[r] * gi[s] / float64(n)
			}
		}
	}
	var num, den float64
	for r := range p {
		for s := r; s < p; s++ {
			ar, cr := r/m, r%m // row r is (input ar, output cr)
			as, cs := s/m, s%m
			var v float64
			for i := range n {
				v += x[i*d+ar] * x[i*d+as] * g[i*m+cr] * g[i*m+cs]
			}
			v /= float64(n)
			kv := a[ar*d+as] * b[cr*m+cs]
			f.SetSym(r, s, v)
			k.SetSym(r, s, kv)
			w := 2.0
			if r == s {
				w = 1
			}
			num += w * (v - kv) * (v - kv)
			den += w * v * v
		}
	}
	eig := func(s *mat.SymDense) []float64 {
		var e mat.EigenSym
		if !e.Factorize(s, false) {
			panic("no convergence")
		}
		return descending(e.Values(nil))
	}
	return eig(f), eig(k), math.Sqrt(num / den)
}

// ratioOf returns κ_p of the descending list v at index ⌈p·len(v)⌉.
func kappaPOf(v []float64, p float64) float64 {
	return v[0] / v[PIndex(p, len(v))-1]
}

func closeTo(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b))
}

func TestKFACFidelityExplicit(t *testing.T) {
	rng := rand.New(rand.NewPCG(40, 40))
	ps := []float64{0.2, 0.5, 0.8, 1}
	for _, tc := range []struct{ d, m, n int }{
		{3, 2, 5},  // d·m > N: Gram matrices
		{2, 3, 4},  // d·m > N
		{4, 1, 3},  // d > N
		{1, 4, 2},  // m > N
		{3, 2, 10}, // d·m < N: F itself
		{2, 2, 4},  // d·m = N
		{1, 1, 3},
	} {
		name := fmt.Sprintf("d=%d m=%d N=%d", tc.d, tc.m, tc.n)
		x := randomRows(rng, tc.n, tc.d, 0, 0.5)
		g := randomRows(rng, tc.n, tc.m, 0, 0)
		fid, err := KFACFidelity(x, g, tc.n, tc.d, tc.m, ps, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		exact, kfac, rel := explicitFidelity(x, g, tc.n, tc.d, tc.m)
		p := tc.d * tc.m
		if fid.Params != p || !closeLists(fid.Exact.Values, exact, 1e-10) {
			t.Errorf("%s: params %d spectrum %v, want %d %v", name, fid.Params, fid.Exact.Values, p, exact)
		}
		if !closeTo(fid.RelFrobenius, rel, 1e-8) {
			t.Errorf("%s: relative error %v, want %v", name, fid.RelFrobenius, rel)
		}
		if want := kfac[0] / exact[0]; !closeTo(fid.LambdaMaxRatio, want, 1e-10) {
			t.Errorf("%s: λmax ratio %v, want %v", name, fid.LambdaMaxRatio, want)
		}
		rankF := min(tc.n, p)
		rankK := min(tc.n, tc.d) * min(tc.n, tc.m)
		for i, pv := range fid.KappaPRatio {
			k := PIndex(pv.P, p)
			var want float64
			switch {
			case k <= rankF:
				want = kappaPOf(kfac, pv.P) / kappaPOf(exact, pv.P)
			case k <= rankK:
				want = 0 // finite / +Inf
			default:
				want = math.NaN() // +Inf / +Inf
			}
			if pv.P != ps[i] || !(closeTo(pv.Value, want, 1e-7) || math.IsNaN(want) && math.IsNaN(pv.Value)) {
				t.Errorf("%s: κ_%v ratio %v, want %v", name, pv.P, pv.Value, want)
			}
		}
		if !slices.Equal(fid.ExactMetrics.KappaP, Compute(fid.Exact, ps).KappaP) {
			t.Errorf("%s: exact metrics do not match the spectrum", name)
		}
	}
}

// TestKFACFidelityPathsAgree computes the same fidelity from F itself and
// from the Gram matrices.
func TestKFACFidelityPathsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 41))
	ps := DefaultP()
	for _, tc := range []struct{ d, m, n int }{{3, 2, 5}, {3, 2, 10}, {5, 3, 15}, {2, 7, 6}} {
		x := randomRows(rng, tc.n, tc.d, 0.3, 0)
		g := randomRows(rng, tc.n, tc.m, 0, 0)
		primal, err := kfacFidelity(x, g, tc.n, tc.d, tc.m, ps, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		dual, err := kfacFidelity(x, g, tc.n, tc.d, tc.m, ps, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if !closeLists(primal.Exact.Values, dual.Exact.Values, 1e-10) ||
			!closeTo(primal.RelFrobenius, dual.RelFrobenius, 1e-8) ||
			!closeTo(primal.LambdaMaxRatio, dual.LambdaMaxRatio, 1e-10) {
			t.Errorf("%v: F itself gives %+v, Gram matrices %+v", tc, primal, dual)
		}
	}
}

// TestKFACFidelitySingleSample: with one sample F = (xxᵀ) ⊗ (ggᵀ) = A⊗B.
func TestKFACFidelitySingleSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 42))
	ps := []float64{0.05, 0.5, 1}
	for _, tc := range []struct{ d, m int }{{4, 3}, {1, 1}, {1, 5}} {
		x := randomRows(rng, 1, tc.d, 0, 0)
		g := randomRows(rng, 1, tc.m, 0, 0)
		fid, err := KFACFidelity(x, g, 1, tc.d, tc.m, ps, nil)
		if err != nil {
			t.Fatal(err)
		}
		if fid.RelFrobenius > 1e-7 || !closeTo(fid.LambdaMaxRatio, 1, 1e-12) {
			t.Errorf("%v: relative error %v, λmax ratio %v, want 0 and 1", tc, fid.RelFrobenius, fid.LambdaMaxRatio)
		}
		for _, pv := range fid.KappaPRatio {
			// Both matrices have rank 1: κ_p is 1 when it divides by λ1
			// and +Inf otherwise, which makes the ratio undefined.
			if k := PIndex(pv.P, tc.d*tc.m); k == 1 && !closeTo(pv.Value, 1, 1e-12) || k > 1 && !math.IsNaN(pv.Value) {
				t.Errorf("%v: κ_%v ratio %v", tc, pv.P, pv.Value)
			}
		}
		var l1 float64
		for _, v := range x {
			l1 += v * v
		}
		var g2 float64
		for _, v := range g {
			g2 += v * v
		}
		if !closeTo(fid.Exact.Values[0], l1*g2, 1e-12) {
			t.Errorf("%v: λmax %v, want ‖x‖²‖g‖² = %v", tc, fid.Exact.Values[0], l1*g2)
		}
	}
}

// factorial returns a batch in which each of the p input vectors meets
// each of the q gradient vectors r times, in random order.
//
// K-FAC is then exact: with Pₛ = aₛaₛᵀ and Qₜ = bₜbₜᵀ, each pair (s, t)
// has weight r/N = 1/(pq), so F = (1/(pq)) Σₛ Σₜ Pₛ ⊗ Qₜ =
// ((1/p) Σₛ Pₛ) ⊗ ((1/q) Σₜ Qₜ), and each aₛ occurs N/p times, so
// A = (1/p) Σₛ Pₛ; likewise B = (1/q) Σₜ Qₜ. Hence F = A⊗B.
func factorial(rng *rand.Rand, p, q, r, d, m int) (x, g []float64, n int) {
	as := randomRows(rng, p, d, 0, 0.3)
	bs := randomRows(rng, q, m, 0, 0)
	n = p * q * r
	order := rng.Perm(n)
	x = make([]float64, n*d)
	g = make([]float64, n*m)
	for i, k := range order {
		s, t := k%p, (k/p)%q
		copy(x[i*d:], as[s*d:(s+1)*d])
		copy(g[i*m:], bs[t*m:(t+1)*m])
	}
	return x, g, n
}

func TestKFACFidelityFactorial(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 43))
	ps := []float64{0.1, 0.5, 1}
	for _, tc := range []struct {
		p, q, r, d, m int
		tol           float64
	}{
		{3, 2, 2, 3, 2, 1e-13}, // N = 12 ≥ d·m: F itself
		{3, 2, 1, 8, 4, 1e-7},  // N = 6 < d·m: Gram matrices, accurate to ~√ε
		{4, 3, 1, 5, 5, 1e-7},
	} {
		x, g, n := factorial(rng, tc.p, tc.q, tc.r, tc.d, tc.m)
		fid, err := KFACFidelity(x, g, n, tc.d, tc.m, ps, nil)
		if err != nil {
			t.Fatal(err)
		}
		if fid.RelFrobenius > tc.tol || !closeTo(fid.LambdaMaxRatio, 1, 1e-10) {
			t.Errorf("%v: relative error %v, λmax ratio %v, want 0 and 1", tc, fid.RelFrobenius, fid.LambdaMaxRatio)
		}
		rank := min(tc.p, tc.d) * min(tc.q, tc.m)
		for _, pv := range fid.KappaPRatio {
			if PIndex(pv.P, tc.d*tc.m) <= rank && !closeTo(pv.Value, 1, 1e-8) {
				t.Errorf("%v: κ_%v ratio %v, want 1", tc, pv.P, pv.Value)
			}
		}
		// Without one sample the design is no longer a product.
		broken, err := KFACFidelity(x[tc.d:], g[tc.m:], n-1, tc.d, tc.m, ps, nil)
		if err != nil {
			t.Fatal(err)
		}
		if broken.RelFrobenius < 1e-3 {
			t.Errorf("%v: incomplete design has relative error %v", tc, broken.RelFrobenius)
		}
	}
}

// TestKFACFidelityDependent uses gradients proportional to the first
// input, g = x₀u, with x ~ N(0, I). Then F = E[x₀² xxᵀ] ⊗ uuᵀ =
// (I + 2e₀e₀ᵀ) ⊗ uuᵀ and A⊗B = I ⊗ uuᵀ, so the relative error tends to
// ‖2e₀e₀ᵀ‖/‖I + 2e₀e₀ᵀ‖ = 2/√(d+8).
func TestKFACFidelityDependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(44, 44))
	const n, d, m = 4000, 3, 2
	x := randomRows(rng, n, d, 0, 0)
	u := []float64{0.6, -0.8}
	g := make([]float64, n*m)
	for i := range n {
		for c := range m {
			g[i*m+c] = x[i*d] * u[c]
		}
	}
	fid, err := KFACFidelity(x, g, n, d, m, DefaultP(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 / math.Sqrt(d+8); math.Abs(fid.RelFrobenius-want) > 0.1 {
		t.Errorf("relative error %v, want about %v", fid.RelFrobenius, want)
	}

	// Independent random x and g on a small batch: the empirical
	// cross-covariance does not vanish.
	for _, tc := range []struct{ d, m, n int }{{3, 2, 20}, {20, 10, 16}} {
		x := randomRows(rng, tc.n, tc.d, 0, 0)
		g := randomRows(rng, tc.n, tc.m, 0, 0)
		fid, err := KFACFidelity(x, g, tc.n, tc.d, tc.m, DefaultP(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if fid.RelFrobenius < 0.05 {
			t.Errorf("%v: relative error %v for random data", tc, fid.RelFrobenius)
		}
	}
}

// TestKFACFidelityInvariance: scaling x by α and g by β scales F and A⊗B
// by α²β², and the order of the samples does not matter.
func TestKFACFidelityInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 45))
	ps := DefaultP()
	for _, tc := range []struct{ d, m, n int }{{4, 3, 6}, {3, 2, 30}} {
		x := randomRows(rng, tc.n, tc.d, 0, 1)
		g := randomRows(rng, tc.n, tc.m, 0, 0)
		base, err := KFACFidelity(x, g, tc.n, tc.d, tc.m, ps, nil)
		if err != nil {
			t.Fatal(err)
		}
		const alpha, beta = 3.0, 0.5
		xs, gs := make([]float64, len(x)), make([]float64, len(g))
		perm := rng.Perm(tc.n)
		for i, j := range perm {
			for a := range tc.d {
				xs[i*tc.d+a] = alpha * x[j*tc.d+a]
			}
			for c := range tc.m {
				gs[i*tc.m+c] = beta * g[j*tc.m+c]
			}
		}
		moved, err := KFACFidelity(xs, gs, tc.n, tc.d, tc.m, ps, nil)
		if err != nil {
			t.Fatal(err)
		}
		scaled := slices.Clone(base.Exact.Values)
		for i := range scaled {
			scaled[i] *= alpha * alpha * beta * beta
		}
		if !closeLists(moved.Exact.Values, scaled, 1e-10) ||
			!closeTo(moved.RelFrobenius, base.RelFrobenius, 1e-8) ||
			!closeTo(moved.LambdaMaxRatio, base.LambdaMaxRatio, 1e-10) {
			t.Errorf("%v: scaled and permuted %+v, base %+v", tc, moved, base)
		}
		for i, pv := range moved.KappaPRatio {
			if b := base.KappaPRatio[i].Value; !closeTo(pv.Value, b, 1e-6) && !(math.IsNaN(b) && math.IsNaN(pv.Value)) {
				t.Errorf("%v: κ_%v ratio %v, base %v", tc, pv.P, pv.Value, b)
			}
		}
	}
}

func TestKFACFidelityErrors(t *testing.T) {
	x := []float64{1, 2, 3, 4}
	g := []float64{1, 2}
	nan := []float64{1, 2, 3, math.NaN()}
	failing := func(*mat.SymDense) ([]float64, error) { return nil, errors.New("solver failed") }
	for _, tc := range []struct {
		x, g    []float64
		n, d, m int
		ps      []float64
		solver  EigenSolver
		msg     string
	}{
		{x, g, 0, 2, 1, nil, nil, "N=0"},
		{x, g, 2, 2, 0, nil, nil, "m=0"},
		{x, g, 2, 3, 1, nil, nil, "got 4 inputs and 2 gradients"},
		{x, g, 2, 2, 2, nil, nil, "got 4 inputs and 2 gradients"},
		{nan, g, 2, 2, 1, nil, nil, "x[3] = NaN (sample 1, column 1)"},
		{x, []float64{1, math.Inf(-1)}, 2, 2, 1, nil, nil, "g[1] = -Inf (sample 1, column 0)"},
		{x, g, 2, 2, 1, []float64{0.5, 1.5}, nil, "p[1] = 1.5"},
		{x, g, 2, 2, 1, nil, failing, "solver failed"},
	} {
		_, err := KFACFidelity(tc.x, tc.g, tc.n, tc.d, tc.m, tc.ps, tc.solver)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("error %v, want %q", err, tc.msg)
		}
	}
}

func TestFidelityRecord(t *testing.T) {
	rng := rand.New(rand.NewPCG(46, 46))
	ps := []float64{0.5, 1}
	fid, err := KFACFidelity(randomRows(rng, 4, 3, 0, 0), randomRows(rng, 4, 2, 0, 0), 4, 3, 2, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(fid)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"params", "rel_frobenius", "lambda_max_ratio", "kappa_ratio_p0.5", "kappa_ratio_p1"}
	for _, f := range fid.ExactMetrics.Record() {
		want = append(want, "exact_"+f.Key)
	}
	if got := keys(t, b); !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	var back struct {
		Params       int     `json:"params"`
		Rel          Float   `json:"rel_frobenius"`
		Kappa1       Float   `json:"kappa_ratio_p1"`
		ExactKappa   Float   `json:"exact_kappa"`
		ExactLambda1 float64 `json:"exact_lambda_max"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	// Rank 4 < 6: κ(F) = +Inf and κ(A⊗B) is finite, so the ratio is 0.
	if back.Params != 6 || float64(back.Rel) != fid.RelFrobenius || back.Kappa1 != 0 ||
		!math.IsInf(float64(back.ExactKappa), 1) || back.ExactLambda1 != fid.Exact.Values[0] {
		t.Errorf("JSON %s", b)
	}
}

func BenchmarkKFACFidelity785x256N128(b *testing.B) {
	rng := rand.New(rand.NewPCG(47, 47))
	const n, d, m = 128, 785, 256
	x := randomRows(rng, n, d, 0.8, 0)
	g := randomRows(rng, n, m, 0, 0)
	ps := DefaultP()
	for b.Loop() {
		if _, err := KFACFidelity(x, g, n, d, m, ps, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// Two samples whose inputs and gradients grow together: K-FAC, which
// treats them as independent, misses part of the curvature.
func ExampleKFACFidelity() {
	x := []float64{ // N×d = 2×2
		1, 0,
		0, 2,
	}
	g := []float64{ // N×m = 2×1
		1,
		3,
	}
	fid, err := KFACFidelity(x, g, 2, 2, 1, []float64{1}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("F spectrum %v\n", fid.Exact.Values)
	fmt.Printf("relative error %.3f, λmax ratio %.3f, κ ratio %.3f\n",
		fid.RelFrobenius, fid.LambdaMaxRatio, fid.KappaPRatio[0].Value)
	// Output:
	// F spectrum [18 0.5]
	// relative error 0.458, λmax ratio 0.556, κ ratio 0.111
}
