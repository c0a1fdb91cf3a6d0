package analysis

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// descending returns a sorted copy of v, largest first.
func descending(v []float64) []float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	slices.Reverse(s)
	return s
}

// closeLists reports whether a and b have the same length and agree to
// tol·max|b| entry by entry.
func closeLists(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	var scale float64
	for _, v := range b {
		scale = max(scale, math.Abs(v))
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol*scale {
			return false
		}
	}
	return true
}

// randomOrthogonal returns the Q factor of a Gaussian matrix.
func randomOrthogonal(rng *rand.Rand, n int) *mat.Dense {
	g := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			g.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	return &q
}

// symFrom returns the symmetric part of a square matrix.
func symFrom(a mat.Matrix) *mat.SymDense {
	n, _ := a.Dims()
	s := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			s.SetSym(i, j, (a.At(i, j)+a.At(j, i))/2)
		}
	}
	return s
}

func TestEigenDiagonal(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	for _, n := range []int{1, 2, 7, 40} {
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = math.Exp(4 * rng.NormFloat64())
		}
		a := mat.NewSymDense(n, nil)
		for i, v := range vals {
			a.SetSym(i, i, v)
		}
		s, err := Eigen(a, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !closeLists(s.Values, descending(vals), 1e-15) || s.Clipped != 0 {
			t.Errorf("n=%d: spectrum %v, want %v", n, s.Values, descending(vals))
		}
	}
}

func TestEigen2x2(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for range 50 {
		a, b, c := rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
		// Make it PSD: shift by the smallest eigenvalue of the closed form
		// plus a margin.
		mid, rad := (a+c)/2, math.Hypot((a-c)/2, b)
		shift := max(0, -(mid-rad)) + rng.Float64()
		a, c, mid = a+shift, c+shift, mid+shift
		s, err := Eigen(mat.NewSymDense(2, []float64{a, b, b, c}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := []float64{mid + rad, mid - rad}; !closeLists(s.Values, want, 1e-14) {
			t.Errorf("[[%v %v] [%v %v]]: spectrum %v, want %v", a, b, b, c, s.Values, want)
		}
	}
}

func TestEigenRotatedDiagonal(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	for _, n := range []int{3, 10, 33} {
		lambda := make([]float64, n)
		for i := range lambda {
			lambda[i] = rng.Float64() * 10
		}
		lambda[n-1] = 0 // a singular matrix
		q := randomOrthogonal(rng, n)
		var a mat.Dense
		a.Mul(q, mat.NewDiagDense(n, lambda))
		a.Mul(&a, q.T())
		s, err := Eigen(symFrom(&a), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !closeLists(s.Values, descending(lambda), 1e-13) {
			t.Errorf("n=%d: spectrum %v, want %v", n, s.Values, descending(lambda))
		}
		if s.MinRaw > 1e-13*s.Values[0] || s.MinRaw < -1e-13*s.Values[0] {
			t.Errorf("n=%d: smallest raw eigenvalue %g of a singular matrix", n, s.MinRaw)
		}
	}
}

func TestNewSpectrumClips(t *testing.T) {
	raw := []float64{1, -1e-17, 3, 0, -2e-18, 2}
	keep := slices.Clone(raw)
	s := NewSpectrum(raw)
	if want := []float64{3, 2, 1, 0, 0, 0}; !slices.Equal(s.Values, want) {
		t.Errorf("values %v, want %v", s.Values, want)
	}
	if s.Clipped != 2 || s.MinRaw != -1e-17 || s.Len() != 6 {
		t.Errorf("Clipped, MinRaw, Len = %d, %g, %d, want 2, -1e-17, 6", s.Clipped, s.MinRaw, s.Len())
	}
	if !slices.Equal(raw, keep) {
		t.Error("NewSpectrum modified its input")
	}
	if s := NewSpectrum(nil); s.Len() != 0 || s.Clipped != 0 {
		t.Errorf("empty spectrum %+v", s)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewSpectrum accepted NaN")
		}
	}()
	NewSpectrum([]float64{1, math.NaN()})
}

func TestEigenErrors(t *testing.T) {
	good := mat.NewSymDense(2, []float64{2, 1, 1, 2})
	for name, tc := range map[string]struct {
		a      *mat.SymDense
		solver EigenSolver
	}{
		"nil":          {nil, nil},
		"NaN entry":    {mat.NewSymDense(2, []float64{1, math.NaN(), math.NaN(), 1}), nil},
		"Inf entry":    {mat.NewSymDense(2, []float64{math.Inf(1), 0, 0, 1}), nil},
		"solver error": {good, func(*mat.SymDense) ([]float64, error) { return nil, errors.New("boom") }},
		"short":        {good, func(*mat.SymDense) ([]float64, error) { return []float64{1}, nil }},
		"NaN value":    {good, func(*mat.SymDense) ([]float64, error) { return []float64{1, math.NaN()}, nil }},
		"Inf value":    {good, func(*mat.SymDense) ([]float64, error) { return []float64{math.Inf(1), 1}, nil }},
	} {
		if _, err := Eigen(tc.a, tc.solver); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// A nil solver means DefaultSolver, which callers may replace.
func TestEigenDefaultSolver(t *testing.T) {
	saved := DefaultSolver
	defer func() { DefaultSolver = saved }()
	calls := 0
	DefaultSolver = func(a *mat.SymDense) ([]float64, error) {
		calls++
		return GonumEigenvalues(a)
	}
	s, err := Eigen(mat.NewSymDense(2, []float64{2, 1, 1, 2}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || !closeLists(s.Values, []float64{3, 1}, 1e-15) {
		t.Errorf("calls %d, spectrum %v, want 1 call and [3 1]", calls, s.Values)
	}
}

// randomPSD returns XᵀX/k for a k×n Gaussian X (rank min(k, n)).
func randomPSD(rng *rand.Rand, n, k int) *mat.SymDense {
	m := NewMoment(n)
	m.AddRows64(randomRows(rng, k, n, 0, 0), k, 1)
	return m.Matrix(FactorOptions{})
}

func TestKroneckerSpectrumMatchesExplicit(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	for _, tc := range []struct{ na, ka, nb, kb int }{
		{1, 3, 4, 9}, {4, 9, 3, 7}, {5, 2, 3, 8}, {6, 10, 2, 1},
	} {
		a, b := randomPSD(rng, tc.na, tc.ka), randomPSD(rng, tc.nb, tc.kb)
		var kron mat.Dense
		kron.Kronecker(a, b)
		direct, err := Eigen(symFrom(&kron), nil)
		if err != nil {
			t.Fatal(err)
		}
		sa, err := Eigen(a, nil)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := Eigen(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := KroneckerSpectrum(sa, sb)
		if got.Len() != tc.na*tc.nb || !closeLists(got.Values, direct.Values, 1e-12) {
			t.Errorf("%+v: product spectrum %v, want %v", tc, got.Values, direct.Values)
		}
		if got.Clipped != 0 || got.MinRaw != got.Values[got.Len()-1] {
			t.Errorf("%+v: Clipped %d, MinRaw %g", tc, got.Clipped, got.MinRaw)
		}
	}
}

// κ(A⊗B) = κ(A)·κ(B) always, while κ_p(A⊗B) is in general not the product
// of the factors' κ_p: it must come from the product spectrum.
func TestKroneckerKappa(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	a, b := randomPSD(rng, 5, 20), randomPSD(rng, 4, 20)
	sa, _ := Eigen(a, nil)
	sb, _ := Eigen(b, nil)
	ps := []float64{0.5, 1}
	ma, mb := Compute(sa, ps), Compute(sb, ps)
	mk := Compute(KroneckerSpectrum(sa, sb), ps)
	if want := ma.Kappa * mb.Kappa; math.Abs(mk.Kappa-want) > 1e-12*want {
		t.Errorf("κ(A⊗B) = %v, want κ(A)κ(B) = %v", mk.Kappa, want)
	}
	if want := ma.LambdaMax * mb.LambdaMax; math.Abs(mk.LambdaMax-want) > 1e-12*want {
		t.Errorf("λmax(A⊗B) = %v, want %v", mk.LambdaMax, want)
	}

	// A = diag(4, 2, 1), B = diag(3, 1): κ_0.5(A) = λ1/λ2 = 2, κ_0.5(B) =
	// λ1/λ1 = 1, but the product spectrum 12, 6, 4, 3, 2, 1 has
	// κ_0.5 = λ1/λ3 = 3.
	ka := Compute(NewSpectrum([]float64{4, 2, 1}), ps)
	kb := Compute(NewSpectrum([]float64{3, 1}), ps)
	kk := Compute(KroneckerSpectrum(NewSpectrum([]float64{4, 2, 1}), NewSpectrum([]float64{3, 1})), ps)
	prod := ka.KappaP[0].Value * kb.KappaP[0].Value
	if kk.KappaP[0].Value == prod {
		t.Errorf("κ_0.5 of the product equals the product of κ_0.5 (%v)", prod)
	}
	if kk.KappaP[0].Value != 3 || prod != 2 {
		t.Errorf("κ_0.5(A⊗B) = %v, κ_0.5(A)κ_0.5(B) = %v, want 3 and 2", kk.KappaP[0].Value, prod)
	}
	if kk.KappaP[1].Value != ka.KappaP[1].Value*kb.KappaP[1].Value {
		t.Errorf("κ_1(A⊗B) = %v, want %v", kk.KappaP[1].Value, ka.KappaP[1].Value*kb.KappaP[1].Value)
	}
}

// Exact zeros (padded Gram spectra) give the same product spectrum as sorting every product.
func TestKroneckerSpectrumWithZeros(t *testing.T) {
	a, b := NewSpectrum([]float64{0, 3, 1e-300, 0}), NewSpectrum([]float64{2, 0, 0.5})
	var all []float64
	for _, x := range a.Values {
		for _, y := range b.Values {
			all = append(all, x*y)
		}
	}
	want := NewSpectrum(all)
	got := KroneckerSpectrum(a, b)
	if !slices.Equal(got.Values, want.Values) || got.MinRaw != 0 {
		t.Fatalf("product spectrum %v (MinRaw %g), want %v", got.Values, got.MinRaw, want.Values)
	}
}

// Inputs that never leave zero give exactly-zero rows of a second moment. Eigen drops them
// before solving and returns them as exact zeros; the rest of the spectrum is the full
// matrix's (here against gonum on the whole matrix). A matrix whose rows are all zero, and one
// whose zero entries are only off the diagonal, go to the solver whole.
func TestEigenDropsZeroRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const n, d = 50, 30
	dead := map[int]bool{0: true, 4: true, 5: true, 17: true, 29: true}
	x := mat.NewDense(n, d, nil)
	for i := range n {
		for j := range d {
			if !dead[j] {
				x.Set(i, j, rng.NormFloat64())
			}
		}
	}
	var a mat.SymDense
	a.SymOuterK(1/float64(n), x.T())
	var calls []int
	solver := func(m *mat.SymDense) ([]float64, error) {
		calls = append(calls, m.SymmetricDim())
		return GonumEigenvalues(m)
	}
	s, err := Eigen(&a, solver)
	if err != nil {
		t.Fatal(err)
	}
	want, err := GonumEigenvalues(&a)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i] = max(want[i], 0)
	}
	if !closeLists(s.Values, descending(want), 1e-12) {
		t.Errorf("spectrum %v\nwant %v", s.Values, descending(want))
	}
	if len(calls) != 1 || calls[0] != d-len(dead) {
		t.Errorf("solver saw orders %v, want one of %d", calls, d-len(dead))
	}
	zeros := 0
	for _, v := range s.Values {
		if v == 0 {
			zeros++
		}
	}
	if zeros != len(dead) || s.Clipped != 0 {
		t.Errorf("%d exact zeros and %d clipped, want %d and 0", zeros, s.Clipped, len(dead))
	}

	calls = nil
	if _, err := Eigen(mat.NewSymDense(4, nil), solver); err != nil || len(calls) != 1 || calls[0] != 4 {
		t.Errorf("all-zero 4×4: solver saw %v (err %v), want the whole matrix", calls, err)
	}
	calls = nil
	offDiag := mat.NewSymDense(3, []float64{1, 0, 0, 0, 2, 1, 0, 1, 3})
	if s, err := Eigen(offDiag, solver); err != nil || len(calls) != 1 || calls[0] != 3 || s.Values[2] == 0 {
		t.Errorf("no zero row: solver saw %v, spectrum %v (err %v)", calls, s.Values, err)
	}
}

// The radix sort of Kronecker products orders exactly as the comparison sort, ties, zeros,
// subnormals and huge values included.
func TestSortDescendingNonNegative(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, n := range []int{0, 1, 100, 4096, 50000} {
		v := make([]float64, n)
		for i := range v {
			switch rng.IntN(6) {
			case 0:
				v[i] = 0
			case 1:
				v[i] = math.SmallestNonzeroFloat64 * float64(rng.IntN(5))
			case 2:
				v[i] = math.MaxFloat64 / float64(1+rng.IntN(5))
			case 3:
				v[i] = float64(rng.IntN(10)) // ties
			default:
				v[i] = rng.ExpFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
			}
		}
		want := descending(v)
		sortDescendingNonNegative(v)
		if !slices.Equal(v, want) {
			t.Fatalf("n = %d: radix order differs from the comparison sort", n)
		}
	}
}
