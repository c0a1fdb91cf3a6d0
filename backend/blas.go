package backend

import (
	"sync/atomic"

	"github.com/lwca/lwca/backend/sgemm"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// minWork is the number of multiply-adds (m·n·k) below which a product stays
// in gonum. A foreign call costs about half a microsecond; measured on 2
// cores (BenchmarkDgemmSmall), gonum is faster at 4×4·4×4 and OpenBLAS from
// 8×8·8×8 on (1.6 times, 4 times at 12³).
var minWork = 6 * 6 * 6

// callCounts counts the calls that reached OpenBLAS; tests use it to check
// that products are routed there.
var callCounts struct {
	sgemm, dgemm, ssyrk, dsyrk, dsyevd atomic.Int64
}

// openblasImpl is gonum's implementation with the level-3 routines that
// dominate the program's run time replaced by OpenBLAS calls. It satisfies
// blas.Float32, blas.Float64 and gorgonia's BLAS interface.
type openblasImpl struct {
	gonum.Implementation
	lib *library
}

// large reports whether m·n·k multiply-adds are worth a foreign call, and
// every size fits a Fortran integer. Zero or negative sizes are left to
// gonum, which returns quickly or panics as documented.
func large(m, n, k int, lds ...int) bool {
	if m <= 0 || n <= 0 || k <= 0 || !fitFortran(m, n, k) || !fitFortran(lds...) {
		return false
	}
	return float64(m)*float64(n)*float64(k) >= float64(minWork)
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major float32 matrices.
func (impl openblasImpl) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if alpha == 0 || !large(m, n, k, lda, ldb, ldc) {
		impl.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	sgemm.CheckArgs(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	callCounts.sgemm.Add(1)
	gemm(impl.lib.sgemm, tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm computes C = alpha·op(A)·op(B) + beta·C for row-major float64 matrices.
func (impl openblasImpl) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if alpha == 0 || !large(m, n, k, lda, ldb, ldc) {
		impl.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	sgemm.CheckArgs(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	callCounts.dgemm.Add(1)
	gemm(impl.lib.dgemm, tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Ssyrk computes one triangle of C = alpha·A·Aᵀ + beta·C (tA == blas.NoTrans)
// or C = alpha·Aᵀ·A + beta·C for a row-major symmetric float32 matrix C.
func (impl openblasImpl) Ssyrk(ul blas.Uplo, tA blas.Transpose, n, k int, alpha float32, a []float32, lda int, beta float32, c []float32, ldc int) {
	if impl.lib.ssyrk == 0 || alpha == 0 || !large(n, n, k, lda, ldc) {
		impl.Implementation.Ssyrk(ul, tA, n, k, alpha, a, lda, beta, c, ldc)
		return
	}
	checkSyrk(ul, tA, n, k, len(a), lda, len(c), ldc)
	callCounts.ssyrk.Add(1)
	syrk(impl.lib.ssyrk, ul == blas.Upper, tA != blas.NoTrans, n, k, alpha, a, lda, beta, c, ldc)
}

// Dsyrk computes one triangle of C = alpha·A·Aᵀ + beta·C (tA == blas.NoTrans)
// or C = alpha·Aᵀ·A + beta·C for a row-major symmetric float64 matrix C.
func (impl openblasImpl) Dsyrk(ul blas.Uplo, tA blas.Transpose, n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	if impl.lib.dsyrk == 0 || alpha == 0 || !large(n, n, k, lda, ldc) {
		impl.Implementation.Dsyrk(ul, tA, n, k, alpha, a, lda, beta, c, ldc)
		return
	}
	checkSyrk(ul, tA, n, k, len(a), lda, len(c), ldc)
	callCounts.dsyrk.Add(1)
	syrk(impl.lib.dsyrk, ul == blas.Upper, tA != blas.NoTrans, n, k, alpha, a, lda, beta, c, ldc)
}

// checkSyrk is sgemm.CheckArgs for ?syrk.
func checkSyrk(ul blas.Uplo, tA blas.Transpose, n, k, lenA, lda, lenC, ldc int) {
	if ul != blas.Upper && ul != blas.Lower {
		panic("blas: illegal triangle")
	}
	if !validTrans(tA) {
		panic("blas: illegal transpose of A")
	}
	rowA, colA := n, k
	if tA != blas.NoTrans {
		rowA, colA = k, n
	}
	switch {
	case lda < colA:
		panic("blas: bad leading dimension of A")
	case ldc < n:
		panic("blas: bad leading dimension of C")
	case lenA < lda*(rowA-1)+colA:
		panic("blas: insufficient length of A")
	case lenC < ldc*(n-1)+n:
		panic("blas: insufficient length of C")
	}
}

func validTrans(t blas.Transpose) bool {
	return t == blas.NoTrans || t == blas.Trans || t == blas.ConjTrans
}
