package analysis

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// FactorOptions selects the estimator that [Moment.Matrix] returns.
//
// The zero value is the default: the uncentered second moment (1/N) Σ x xᵀ
// of x as it is.
type FactorOptions struct {
	// Centered subtracts the mean: (1/N) Σ (x-μ)(x-μ)ᵀ.
	Centered bool
	// AppendOne analyses [x; 1] instead of x, which covers a layer's bias
	// (the usual K-FAC convention). The result is (d+1)×(d+1):
	//
	//	[ (1/N) Σ x xᵀ   μ ]
	//	[      μᵀ        1 ]
	//
	// AppendOne cannot be combined with Centered: the constant coordinate
	// has zero variance, so centering would turn the bias block into a
	// zero row and column and make every factor singular.
	AppendOne bool
}

// Validate reports whether the options can be used together.
func (o FactorOptions) Validate() error {
	if o.Centered && o.AppendOne {
		return errors.New("analysis: factor options Centered and AppendOne are mutually exclusive (a constant bias coordinate has zero variance)")
	}
	return nil
}

// Moment accumulates Σ x xᵀ and Σ x over the rows x of row-major
// matrices, in float64 whatever the input type, so that the second moment
// or the covariance of all rows added so far can be formed with
// [Moment.Matrix].
//
// The rank-k update is the one of BLAS dsyrk (upper triangle, rows of the
// result updated by axpy over the input rows), split into row bands of the
// result that run on up to GOMAXPROCS goroutines. Each entry is always
// accumulated by one goroutine in the same order, so results are
// bit-for-bit independent of the number of goroutines. Zero input entries
// are skipped, which makes sparse inputs (images with blank borders,
// post-ReLU activations) proportionally cheaper.
//
// A Moment is not safe for concurrent use.
type Moment struct {
	dim   int
	count int

	// Rows are accumulated as y = scale·x - shift. The shift is zero
	// unless SetAutoShift was called; it does not change the results,
	// only their rounding (see SetAutoShift).
	autoShift bool
	shift     []float64 // nil when unshifted

	sum []float64 // Σ y
	sq  []float64 // upper triangle of Σ y yᵀ, dim×dim row-major

	buf []float64 // reused conversion buffer
}

// maxChunk bounds the conversion buffer, in elements (8 MiB of float64).
const maxChunk = 1 << 20

// minBandWork is the number of multiply-adds below which splitting the
// update over goroutines costs more than it saves.
const minBandWork = 1 << 18

// NewMoment returns an empty accumulator for rows of length dim.
// It panics if dim < 1.
func NewMoment(dim int) *Moment {
	if dim < 1 {
		panic(fmt.Sprintf("analysis: NewMoment dimension %d, want at least 1", dim))
	}
	return &Moment{
		dim: dim,
		sum: make([]float64, dim),
		sq:  make([]float64, dim*dim),
	}
}

// Dim returns the length of the accumulated rows.
func (m *Moment) Dim() int { return m.dim }

// Count returns the number of rows added since creation or the last Reset.
func (m *Moment) Count() int { return m.count }

// Reset discards every row added so far. An automatic shift (see
// SetAutoShift) stays enabled and is recomputed from the next batch.
func (m *Moment) Reset() {
	m.count = 0
	m.shift = nil
	clear(m.sum)
	clear(m.sq)
}

// SetAutoShift controls the shifted accumulation used for accurate
// covariances. When on, the mean of the first batch added after creation
// or Reset becomes a shift s, and the Moment accumulates y = x - s instead
// of x. The results of Matrix are mathematically unchanged, but the
// centered covariance no longer suffers the cancellation of
// (1/N)Σ x xᵀ - μμᵀ, whose absolute error is of order ε·max E[x_i²]: it
// matters when the mean dominates the spread, as for non-negative
// activations. The price is that zero inputs are no longer zero once
// shifted, so sparse inputs lose their speed-up. SetAutoShift panics if
// rows have already been added.
func (m *Moment) SetAutoShift(on bool) {
	if m.count != 0 {
		panic("analysis: SetAutoShift called on a Moment that already holds rows")
	}
	m.autoShift = on
}

// AddRows32 adds the rows of the row-major rows×Dim() matrix data, each
// multiplied by scale. With a mean-reduced loss the autodiff gradient of
// sample i is gᵢ/N, so passing scale = N recovers per-sample gradients.
// It panics if len(data) != rows·Dim().
func (m *Moment) AddRows32(data []float32, rows int, scale float64) {
	m.checkLen(len(data), rows)
	if rows == 0 {
		return
	}
	m.initShift32(data, rows, scale)
	m.forChunks(rows, func(r0, r1 int) {
		src := data[r0*m.dim : r1*m.dim]
		y := m.buffer(len(src))
		for i, v := range src {
			y[i] = scale * float64(v)
		}
		m.accumulate(y, r1-r0)
	})
}

// AddRows64 is like AddRows32 for float64 data. Unscaled, unshifted rows
// are used in place; otherwise they are copied to an internal buffer, and
// data is never modified.
func (m *Moment) AddRows64(data []float64, rows int, scale float64) {
	m.checkLen(len(data), rows)
	if rows == 0 {
		return
	}
	m.initShift64(data, rows, scale)
	m.forChunks(rows, func(r0, r1 int) {
		src := data[r0*m.dim : r1*m.dim]
		if scale == 1 && m.shift == nil {
			m.accumulate(src, r1-r0)
			return
		}
		y := m.buffer(len(src))
		for i, v := range src {
			y[i] = scale * v
		}
		m.accumulate(y, r1-r0)
	})
}

func (m *Moment) checkLen(n, rows int) {
	if rows < 0 || n != rows*m.dim {
		panic(fmt.Sprintf("analysis: Moment.AddRows got %d values for %d rows of dimension %d, want %d", n, rows, m.dim, rows*m.dim))
	}
}

// initShift32 sets the automatic shift from the first batch.
func (m *Moment) initShift32(data []float32, rows int, scale float64) {
	if !m.autoShift || m.count != 0 {
		return
	}
	s := make([]float64, m.dim)
	for r := range rows {
		for j, v := range data[r*m.dim : (r+1)*m.dim] {
			s[j] += scale * float64(v)
		}
	}
	floats.Scale(1/float64(rows), s)
	m.shift = s
}

func (m *Moment) initShift64(data []float64, rows int, scale float64) {
	if !m.autoShift || m.count != 0 {
		return
	}
	s := make([]float64, m.dim)
	for r := range rows {
		for j, v := range data[r*m.dim : (r+1)*m.dim] {
			s[j] += scale * v
		}
	}
	floats.Scale(1/float64(rows), s)
	m.shift = s
}

// forChunks calls f on consecutive row ranges small enough for the buffer.
func (m *Moment) forChunks(rows int, f func(r0, r1 int)) {
	step := max(1, maxChunk/m.dim)
	for r0 := 0; r0 < rows; r0 += step {
		f(r0, min(rows, r0+step))
	}
}

func (m *Moment) buffer(n int) []float64 {
	if cap(m.buf) < n {
		m.buf = make([]float64, n)
	}
	return m.buf[:n]
}

// accumulate adds the k rows of y, applying the shift to y if it is
// m.buf (the caller's data is never written).
func (m *Moment) accumulate(y []float64, k int) {
	d := m.dim
	if m.shift != nil {
		for r := range k {
			floats.Sub(y[r*d:(r+1)*d], m.shift)
		}
	}
	for r := range k {
		floats.Add(m.sum, y[r*d:(r+1)*d])
	}
	rankK := DefaultRankK
	if rankK == nil {
		rankK = ParallelRankK
	}
	rankK(m.sq, y, k, d)
	m.count += k
}

// RankKUpdate adds aᵀa to the upper triangle of the d×d row-major c, where a is k×d
// row-major: the update of a second moment by k rows (BLAS dsyrk, upper, transposed).
type RankKUpdate func(c, a []float64, k, d int)

// DefaultRankK is the update that Moment uses. Its default is ParallelRankK, in pure Go; a
// program with a native BLAS installs its dsyrk here, an order of magnitude faster (lwca's
// command line does, through package backend), as it installs its eigensolver in
// DefaultSolver. The analysis itself never asks which BLAS is present. Set it before any
// concurrent use; tests that replace it rely on running alone (no test calls t.Parallel).
var DefaultRankK RankKUpdate = ParallelRankK

// ParallelRankK is the pure-Go RankKUpdate: bands of rows of c spread over the cores.
func ParallelRankK(c, a []float64, k, d int) { rankKUpper(c, a, k, d, bandWorkers(k, d)) }

// bandWorkers returns how many goroutines to use for a k×d update.
func bandWorkers(k, d int) int {
	work := k * d * (d + 1) / 2
	return max(1, min(runtime.GOMAXPROCS(0), work/minBandWork, d))
}

// rankKUpper adds aᵀa to the upper triangle of the d×d row-major c, where
// a is k×d row-major, using the given number of goroutines, each owning a
// band of rows of c with about the same share of the triangle.
func rankKUpper(c, a []float64, k, d, workers int) {
	if workers <= 1 {
		rankKBand(c, a, k, d, 0, d)
		return
	}
	var wg sync.WaitGroup
	total := d * (d + 1) / 2
	i0, done := 0, 0
	for w := range workers {
		target := total * (w + 1) / workers
		i1 := i0
		for i1 < d && done < target {
			done += d - i1
			i1++
		}
		if w == workers-1 {
			i1 = d
		}
		if lo, hi := i0, i1; hi > lo {
			wg.Go(func() { rankKBand(c, a, k, d, lo, hi) })
		}
		i0 = i1
	}
	wg.Wait()
}

// rankKBand updates rows [i0, i1) of the upper triangle of c by aᵀa.
func rankKBand(c, a []float64, k, d, i0, i1 int) {
	for i := i0; i < i1; i++ {
		row := c[i*d+i : (i+1)*d]
		for l := range k {
			if v := a[l*d+i]; v != 0 {
				floats.AddScaled(row, v, a[l*d+i:(l+1)*d])
			}
		}
	}
}

// Mean returns μ = (1/N) Σ x, stored in dst if it is not nil (it must then
// have length Dim()). It panics if no rows have been added.
func (m *Moment) Mean(dst []float64) []float64 {
	m.checkCount()
	if dst == nil {
		dst = make([]float64, m.dim)
	}
	if len(dst) != m.dim {
		panic(fmt.Sprintf("analysis: Moment.Mean destination length %d, want %d", len(dst), m.dim))
	}
	n := float64(m.count)
	for j, s := range m.sum {
		dst[j] = s / n
		if m.shift != nil {
			dst[j] += m.shift[j]
		}
	}
	return dst
}

func (m *Moment) checkCount() {
	if m.count == 0 {
		panic("analysis: Moment has no rows")
	}
}

// Matrix returns the estimate selected by opts of the rows added so far:
// (1/N) Σ x xᵀ by default, the covariance (1/N) Σ (x-μ)(x-μ)ᵀ when
// opts.Centered, and the (d+1)×(d+1) moment of [x; 1] when opts.AppendOne.
// Both triangles of the returned matrix's storage are filled.
// Matrix panics if no rows have been added or opts is invalid (see
// [FactorOptions.Validate]).
func (m *Moment) Matrix(opts FactorOptions) *mat.SymDense {
	if err := opts.Validate(); err != nil {
		panic(err.Error())
	}
	m.checkCount()
	d := m.dim
	n := float64(m.count)
	// With y = x - s and ȳ = Σy/N:
	//	(1/N)Σ x xᵀ = (1/N)Σ y yᵀ + s ȳᵀ + ȳ sᵀ + s sᵀ
	//	covariance  = (1/N)Σ y yᵀ - ȳ ȳᵀ
	ybar := make([]float64, d)
	for j, v := range m.sum {
		ybar[j] = v / n
	}
	s := m.shift
	out := d
	if opts.AppendOne {
		out = d + 1
	}
	data := make([]float64, out*out)
	for i := range d {
		for j := i; j < d; j++ {
			v := m.sq[i*d+j] / n
			switch {
			case opts.Centered:
				v -= ybar[i] * ybar[j]
			case s != nil:
				v += s[i]*ybar[j] + ybar[i]*s[j] + s[i]*s[j]
			}
			data[i*out+j] = v
			data[j*out+i] = v
		}
	}
	if opts.AppendOne {
		mu := m.Mean(nil)
		for i, v := range mu {
			data[i*out+d] = v
			data[d*out+i] = v
		}
		data[d*out+d] = 1
	}
	return mat.NewSymDense(out, data)
}
