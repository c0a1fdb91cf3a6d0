package backend

import (
	"reflect"

	"github.com/lwca/lwca/analysis"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randomSym returns a row-major symmetric n×n matrix whose lower triangle
// is garbage unless symmetric is set: SymEigenvalues must read only the
// upper one.
func randomSym(rnd *rand.Rand, n int, symmetric bool) []float64 {
	a := make([]float64, n*n)
	for i := range n {
		for j := i; j < n; j++ {
			a[i*n+j] = rnd.NormFloat64()
			a[j*n+i] = a[i*n+j]
			if !symmetric && j > i {
				a[j*n+i] = 1e3 * rnd.NormFloat64()
			}
		}
	}
	return a
}

// maxAbsDiff returns max|x-y| / max|y|.
func relDiff(x, y []float64) float64 {
	d, s := 0.0, 0.0
	for i := range y {
		d = max(d, math.Abs(x[i]-y[i]))
		s = max(s, math.Abs(y[i]))
	}
	return d / max(s, 1e-300)
}

func TestSymEigenvaluesAgree(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 2, 5, 64, 300} {
		a := randomSym(rnd, n, false)
		orig := slices.Clone(a)

		useBackend(t, Gonum, 0)
		want, err := SymEigenvalues(n, a)
		if err != nil {
			t.Fatalf("gonum n=%d: %v", n, err)
		}
		useBackend(t, OpenBLAS, 0)
		before := callCounts.dsyevd.Load()
		got, err := SymEigenvalues(n, a)
		if err != nil {
			t.Fatalf("openblas n=%d: %v", n, err)
		}
		if callCounts.dsyevd.Load() != before+1 {
			t.Fatalf("n=%d: dsyevd_ was not called", n)
		}
		if !slices.Equal(a, orig) {
			t.Fatalf("n=%d: input modified", n)
		}
		if !slices.IsSorted(got) || !slices.IsSorted(want) {
			t.Errorf("n=%d: eigenvalues not ascending", n)
		}
		if d := relDiff(got, want); d > 1e-12 {
			t.Errorf("n=%d: openblas and gonum eigenvalues differ by %.3g (relative)", n, d)
		}
		// Invariants independent of both solvers: the trace is the sum
		// of the eigenvalues.
		tr, sum := 0.0, 0.0
		for i := range n {
			tr += a[i*n+i]
			sum += got[i]
		}
		if math.Abs(tr-sum) > 1e-10*float64(n) {
			t.Errorf("n=%d: trace %v, sum of eigenvalues %v", n, tr, sum)
		}
	}
}

// TestSymEigenvaluesKnown builds Q·Λ·Qᵀ with an orthogonal Q and checks that
// both backends return Λ.
func TestSymEigenvaluesKnown(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	const n = 40
	g := mat.NewDense(n, n, randomSlice[float64](rnd, n*n))
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	lambda := make([]float64, n)
	for i := range lambda {
		lambda[i] = math.Pow(10, float64(i)/8-2) // 1e-2 … ~7e2, a spread like a covariance's
		if i%5 == 0 {
			lambda[i] = -lambda[i]
		}
	}
	var a mat.Dense
	a.Mul(&q, mat.NewDiagDense(n, lambda))
	a.Mul(&a, q.T())
	want := slices.Clone(lambda)
	slices.Sort(want)

	for _, mode := range []Mode{Gonum, OpenBLAS} {
		useBackend(t, mode, 0)
		got, err := SymEigenvalues(n, a.RawMatrix().Data)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if d := relDiff(got, want); d > 1e-12 {
			t.Errorf("%s: eigenvalues of QΛQᵀ differ from Λ by %.3g (relative)", mode, d)
		}
	}
}

func TestSymEigenvaluesErrors(t *testing.T) {
	for _, mode := range []Mode{Gonum, OpenBLAS} {
		useBackend(t, mode, 0)
		if v, err := SymEigenvalues(0, nil); err != nil || len(v) != 0 {
			t.Errorf("%s: n=0 gave %v, %v", mode, v, err)
		}
		for _, tc := range []struct {
			n    int
			a    []float64
			want string
		}{
			{-1, nil, "negative"},
			{2, []float64{1, 2, 3}, "len(a) = 3, want n*n = 4"},
			{2, []float64{1, math.NaN(), 0, 1}, "entry (0,1) is NaN"},
			{2, []float64{1, 0, 0, math.Inf(1)}, "entry (1,1) is +Inf"},
		} {
			_, err := SymEigenvalues(tc.n, tc.a)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: SymEigenvalues(%d, %v) error %v, want %q", mode, tc.n, tc.a, err, tc.want)
			}
		}
		// NaN below the diagonal is never read.
		if v, err := SymEigenvalues(2, []float64{2, 1, math.NaN(), 2}); err != nil || math.Abs(v[0]-1) > 1e-14 || math.Abs(v[1]-3) > 1e-14 {
			t.Errorf("%s: [[2 1] [NaN 2]] gave %v, %v; want [1 3]", mode, v, err)
		}
	}
}

// Eigenvalues reads gonum's symmetric matrices, views with a wider stride included, and agrees
// with gonum's own solver.
func TestEigenvaluesOfSymDense(t *testing.T) {
	big := mat.NewSymDense(5, nil)
	for i := 0; i < 5; i++ {
		for j := i; j < 5; j++ {
			big.SetSym(i, j, float64(1+i*j)+float64(i+j)/7)
		}
	}
	for _, a := range []*mat.SymDense{big, big.SliceSym(1, 4).(*mat.SymDense)} {
		got, err := Eigenvalues(a)
		if err != nil {
			t.Fatal(err)
		}
		var es mat.EigenSym
		if !es.Factorize(a, false) {
			t.Fatal("gonum EigenSym failed")
		}
		want := es.Values(nil)
		sort.Float64s(got)
		sort.Float64s(want)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-10*math.Max(1, math.Abs(want[i])) {
				t.Fatalf("n=%d: eigenvalues %v, gonum %v", a.SymmetricDim(), got, want)
			}
		}
	}
}

// RankK, with whatever BLAS is installed, adds aᵀa to the upper triangle, as a brute-force
// sum over the rows does; the lower triangle is left alone.
func TestRankK(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const k, d = 7, 5
	a := make([]float64, k*d)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	c := make([]float64, d*d)
	for i := range c {
		c[i] = float64(i)
	}
	RankK(c, a, k, d)
	for i := range d {
		for j := range d {
			want := float64(i*d + j)
			if j >= i {
				for r := range k {
					want += a[r*d+i] * a[r*d+j]
				}
			}
			if math.Abs(c[i*d+j]-want) > 1e-12*(1+math.Abs(want)) {
				t.Errorf("c[%d,%d] = %v, want %v", i, j, c[i*d+j], want)
			}
		}
	}
}

// UseForAnalysis installs this package's eigensolver, and OpenBLAS's dsyrk only with OpenBLAS.
func TestUseForAnalysis(t *testing.T) {
	defer func(s analysis.EigenSolver, r analysis.RankKUpdate) {
		analysis.DefaultSolver, analysis.DefaultRankK = s, r
	}(analysis.DefaultSolver, analysis.DefaultRankK)
	same := func(a, b any) bool { return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer() }
	UseForAnalysis(Info{Name: string(Gonum)})
	if !same(analysis.DefaultSolver, analysis.EigenSolver(Eigenvalues)) || !same(analysis.DefaultRankK, analysis.RankKUpdate(analysis.ParallelRankK)) {
		t.Error("gonum: wrong analysis routines")
	}
	UseForAnalysis(Info{Name: string(OpenBLAS)})
	if !same(analysis.DefaultRankK, analysis.RankKUpdate(RankK)) {
		t.Error("openblas: the rank-k update is not dsyrk")
	}
}
