package curvature

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// withSpectrum returns Q diag(lambda) Qᵀ for a random orthogonal Q.
func withSpectrum(lambda []float64, seed uint64) *mat.SymDense {
	n := len(lambda)
	rng := rand.New(rand.NewPCG(seed, 1))
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
	var a mat.SymDense
	a.SymOuterK(0, &q) // allocate
	a.Zero()
	for k, l := range lambda {
		a.SymRankOne(&a, l, q.ColView(k))
	}
	return &a
}

// exactEigen returns the eigenvalues of a in ascending order.
func exactEigen(t *testing.T, a mat.Symmetric) []float64 {
	t.Helper()
	var es mat.EigenSym
	if !es.Factorize(a, false) {
		t.Fatal("EigenSym failed")
	}
	v := es.Values(nil)
	sort.Float64s(v)
	return v
}

func relErr(got, want float64) float64 { return math.Abs(got-want) / math.Abs(want) }

// uniform returns n values evenly spread over [lo, hi].
func uniform(n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*float64(i)/float64(max(n-1, 1))
	}
	return v
}
