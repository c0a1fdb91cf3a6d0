package backend

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// SymEigenvalues returns, in ascending order, the eigenvalues of the
// symmetric n×n matrix stored row-major in a. Only the upper triangle
// (a[i*n+j], j ≥ i) is read, as in mat.SymDense; a is not modified.
// With the OpenBLAS backend it calls LAPACK's dsyevd, otherwise gonum's
// mat.EigenSym; neither computes eigenvectors.
func SymEigenvalues(n int, a []float64) ([]float64, error) {
	if n < 0 {
		return nil, fmt.Errorf("backend: SymEigenvalues: negative order n = %d", n)
	}
	if len(a) != n*n {
		return nil, fmt.Errorf("backend: SymEigenvalues: len(a) = %d, want n*n = %d", len(a), n*n)
	}
	if n == 0 {
		return []float64{}, nil
	}
	for i := range n {
		for j := i; j < n; j++ {
			if v := a[i*n+j]; math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("backend: SymEigenvalues: entry (%d,%d) is %v", i, j, v)
			}
		}
	}
	work := make([]float64, len(a))
	copy(work, a)
	if lib := active.Load(); lib != nil && lib.dsyevd != 0 && fitFortran(n*n) {
		w := make([]float64, n)
		callCounts.dsyevd.Add(1)
		if info := dsyevd(lib.dsyevd, n, work, w); info != 0 {
			return nil, fmt.Errorf("backend: SymEigenvalues: LAPACK dsyevd failed with info = %d", info)
		}
		return w, nil
	}
	var es mat.EigenSym
	if !es.Factorize(mat.NewSymDense(n, work), false) {
		return nil, fmt.Errorf("backend: SymEigenvalues: gonum EigenSym did not converge (n = %d)", n)
	}
	return es.Values(nil), nil
}

// Eigenvalues computes the eigenvalues of a gonum symmetric matrix with SymEigenvalues; it has
// the signature of analysis.EigenSolver, so the analysis can be routed through this backend.
func Eigenvalues(a *mat.SymDense) ([]float64, error) {
	n := a.SymmetricDim()
	raw := a.RawSymmetric()
	data := raw.Data
	if raw.Stride != n {
		data = make([]float64, n*n)
		for i := 0; i < n; i++ {
			copy(data[i*n:(i+1)*n], raw.Data[i*raw.Stride:i*raw.Stride+n])
		}
	}
	return SymEigenvalues(n, data)
}

// RankK adds aᵀa to the upper triangle of the d×d row-major c (a is k×d row-major) with the
// installed BLAS's dsyrk; it has the signature of analysis.RankKUpdate, so the analysis's
// second moments can be routed through a native BLAS.
func RankK(c, a []float64, k, d int) {
	blas64.Implementation().Dsyrk(blas.Upper, blas.Trans, d, k, 1, a, d, 1, c, d)
}
