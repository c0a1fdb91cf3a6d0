// Package sgemm is the float32 matrix product of the pure-Go backend. gonum's Sgemm builds
// its products from SSE axpy and dot loops that stream a row of C through memory for every
// multiply-add pair, which makes it memory-bound; this one packs blocks of A and B into
// contiguous panels and multiplies them with a register-blocked AVX2/FMA micro-kernel (6×16
// tiles of C held in registers), the scheme of BLIS and OpenBLAS. It needs no cgo and no
// library. On CPUs without AVX2 and FMA, on other architectures, and for small products, it
// leaves the work to gonum.
//
//	blas32.Use(sgemm.Implementation{})
package sgemm

import (
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Tile and block sizes: a 6×16 tile of C in 12 YMM registers; a kc×16 panel of B (16 KiB)
// stays in L1 while it meets every 6-row panel of an mc×kc block of A (96 KiB, L2).
const (
	mr = 6
	nr = 16
	kc = 256
	mc = 96
	nc = 2048
)

// minWork is the number of multiply-adds below which packing costs more than it saves.
const minWork = 16 * 1024

// Available reports whether the micro-kernel runs on this machine.
func Available() bool { return haveKernel }

// Implementation is gonum's BLAS with Sgemm replaced.
type Implementation struct{ gonum.Implementation }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, op(A) m×k and op(B)
// k×n, like blas.Float32's Sgemm. Each entry of C is accumulated in the same order whatever
// the number of goroutines, so results do not depend on GOMAXPROCS.
func (impl Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !haveKernel || m <= 0 || n <= 0 || k <= 0 || m*n*k < minWork || alpha == 0 {
		// Small or degenerate products (gonum also rejects negative sizes).
		impl.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	CheckArgs(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	scale(m, n, beta, c, ldc)
	ma := matrix{a, lda, tA != blas.NoTrans}
	mb := matrix{b, ldb, tB != blas.NoTrans}
	// Split the larger dimension of C among the processors, on tile boundaries.
	workers := runtime.GOMAXPROCS(0)
	if m >= n {
		parts := split(m, mr, workers)
		run(len(parts)-1, func(w int) { block(ma, mb, alpha, c, ldc, parts[w], parts[w+1], 0, n, k) })
	} else {
		parts := split(n, nr, workers)
		run(len(parts)-1, func(w int) { block(ma, mb, alpha, c, ldc, 0, m, parts[w], parts[w+1], k) })
	}
}

// matrix is a row-major operand, read transposed when t is set.
type matrix struct {
	d  []float32
	ld int
	t  bool
}

// CheckArgs panics, with the reference BLAS messages as gonum does, on ?gemm arguments that
// would read or write outside the slices. The sizes must be positive.
func CheckArgs(tA, tB blas.Transpose, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) {
	if !validTrans(tA) {
		panic("blas: illegal transpose of A")
	}
	if !validTrans(tB) {
		panic("blas: illegal transpose of B")
	}
	rowA, colA := m, k
	if tA != blas.NoTrans {
		rowA, colA = k, m
	}
	rowB, colB := k, n
	if tB != blas.NoTrans {
		rowB, colB = n, k
	}
	switch {
	case lda < colA:
		panic("blas: bad leading dimension of A")
	case ldb < colB:
		panic("blas: bad leading dimension of B")
	case ldc < n:
		panic("blas: bad leading dimension of C")
	case lenA < lda*(rowA-1)+colA:
		panic("blas: insufficient length of A")
	case lenB < ldb*(rowB-1)+colB:
		panic("blas: insufficient length of B")
	case lenC < ldc*(m-1)+n:
		panic("blas: insufficient length of C")
	}
}

func validTrans(t blas.Transpose) bool {
	return t == blas.NoTrans || t == blas.Trans || t == blas.ConjTrans
}

// scale multiplies C by beta; beta = 0 sets it to zero without reading it (BLAS semantics).
func scale(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// split cuts [0, n) into at most parts ranges whose inner boundaries are multiples of unit.
func split(n, unit, parts int) []int {
	tiles := (n + unit - 1) / unit
	parts = max(1, min(parts, tiles))
	out := make([]int, parts+1)
	for w := 1; w < parts; w++ {
		out[w] = w * tiles / parts * unit
	}
	out[parts] = n
	return out
}

// run calls f(0), …, f(n-1) concurrently and waits for them.
func run(n int, f func(w int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(w)
		}()
	}
	f(0)
	wg.Wait()
}

// buffers are one goroutine's packing space. They are kept on a free list rather than in a
// sync.Pool, which the collector empties: a training step would then allocate them anew.
type buffers struct{ a, b []float32 }

var (
	freeMu sync.Mutex
	free   []*buffers
)

// getBuffers returns packing space for B panels nb columns wide.
func getBuffers(nb int) *buffers {
	freeMu.Lock()
	var buf *buffers
	if n := len(free); n > 0 {
		buf, free = free[n-1], free[:n-1]
	}
	freeMu.Unlock()
	if buf == nil {
		buf = &buffers{a: make([]float32, mc*kc)}
	}
	if need := kc * ((min(nb, nc) + nr - 1) / nr * nr); len(buf.b) < need {
		buf.b = make([]float32, need)
	}
	return buf
}

// putBuffers returns buf to the free list. Products called from several goroutines at once
// (the convolutions' workers) can have more buffers out than processors; the list keeps a
// few per processor and leaves the rest to the collector.
func putBuffers(buf *buffers) {
	freeMu.Lock()
	if len(free) < 4*runtime.GOMAXPROCS(0) {
		free = append(free, buf)
	}
	freeMu.Unlock()
}

// block adds alpha·op(A)[i0:i1, :]·op(B)[:, j0:j1] to C.
func block(a, b matrix, alpha float32, c []float32, ldc, i0, i1, j0, j1, k int) {
	buf := getBuffers(j1 - j0)
	defer putBuffers(buf)
	var tile [mr * nr]float32
	for jc := j0; jc < j1; jc += nc {
		nb := min(nc, j1-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			packB(buf.b, b, pc, kb, jc, nb)
			for ic := i0; ic < i1; ic += mc {
				mb := min(mc, i1-ic)
				packA(buf.a, a, alpha, ic, mb, pc, kb)
				for jr := 0; jr < nb; jr += nr {
					bp := &buf.b[jr*kb]
					for ir := 0; ir < mb; ir += mr {
						ap := &buf.a[ir*kb]
						ci := (ic+ir)*ldc + jc + jr
						if ir+mr <= mb && jr+nr <= nb {
							kernel6x16(kb, ap, bp, &c[ci], ldc)
							continue
						}
						// An edge tile: compute it whole into a scratch tile, add the part
						// that exists.
						clear(tile[:])
						kernel6x16(kb, ap, bp, &tile[0], nr)
						for r := range min(mr, mb-ir) {
							row := c[ci+r*ldc : ci+r*ldc+min(nr, nb-jr)]
							for j := range row {
								row[j] += tile[r*nr+j]
							}
						}
					}
				}
			}
		}
	}
}

// packA writes alpha·op(A)[ic:ic+mb, pc:pc+kb] to dst as panels of mr rows, each kb columns
// of mr values, zero-padded to a whole panel.
func packA(dst []float32, a matrix, alpha float32, ic, mb, pc, kb int) {
	for p := 0; p < mb; p += mr {
		panel := dst[p*kb : (p+mr)*kb]
		for r := range mr {
			i := ic + p + r
			if p+r >= mb {
				for l := range kb {
					panel[l*mr+r] = 0
				}
				continue
			}
			if a.t { // A(i, l) = a[l·ld + i]
				for l := range kb {
					panel[l*mr+r] = alpha * a.d[(pc+l)*a.ld+i]
				}
				continue
			}
			src := a.d[i*a.ld+pc : i*a.ld+pc+kb]
			for l, v := range src {
				panel[l*mr+r] = alpha * v
			}
		}
	}
}

// packB writes op(B)[pc:pc+kb, jc:jc+nb] to dst as panels of nr columns, each kb rows of nr
// values, zero-padded to a whole panel.
func packB(dst []float32, b matrix, pc, kb, jc, nb int) {
	for q := 0; q < nb; q += nr {
		panel := dst[q*kb : (q+nr)*kb]
		w := min(nr, nb-q)
		if b.t { // B(l, j) = b[j·ld + l]
			for j := range nr {
				if j >= w {
					for l := range kb {
						panel[l*nr+j] = 0
					}
					continue
				}
				src := b.d[(jc+q+j)*b.ld+pc : (jc+q+j)*b.ld+pc+kb]
				for l, v := range src {
					panel[l*nr+j] = v
				}
			}
			continue
		}
		for l := range kb {
			row := panel[l*nr : (l+1)*nr]
			copy(row, b.d[(pc+l)*b.ld+jc+q:(pc+l)*b.ld+jc+q+w])
			clear(row[w:])
		}
	}
}
