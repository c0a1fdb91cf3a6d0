package analysis

import (
	"fmt"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Gram returns the n×n matrix (1/n) Y Yᵀ of the n rows Y of a factor whose d×d estimate
// (see [Moment.Matrix]) is (1/n) Yᵀ Y: the rows as they are, centered when opts.Centered, or
// with a constant 1 appended when opts.AppendOne. The two matrices have the same non-zero
// eigenvalues, so when n is below the factor's dimension the small one gives its spectrum
// (with [Spectrum.Pad]) at a fraction of the cost: for a 785-input layer analysed on a
// 128-sample batch, eigenvalues of a 128×128 matrix instead of a 785×785 one.
//
// data is the row-major n×d matrix, float32 or float64; scale multiplies every row. Gram
// panics if opts is invalid, n < 1 or len(data) != n·d.
func Gram[T float32 | float64](data []T, n, d int, scale float64, opts FactorOptions) *mat.SymDense {
	if err := opts.Validate(); err != nil {
		panic(err.Error())
	}
	if n < 1 || d < 1 || len(data) != n*d {
		panic(fmt.Sprintf("analysis: Gram of %d values as %d rows of dimension %d", len(data), n, d))
	}
	y := make([]float64, n*d)
	for i, v := range data {
		y[i] = scale * float64(v)
	}
	if opts.Centered {
		// Two passes: the mean first, then exact deviations, so no cancellation.
		mu := make([]float64, d)
		for r := range n {
			for j, v := range y[r*d : (r+1)*d] {
				mu[j] += v
			}
		}
		for j := range mu {
			mu[j] /= float64(n)
		}
		for r := range n {
			row := y[r*d : (r+1)*d]
			for j := range row {
				row[j] -= mu[j]
			}
		}
	}
	g := make([]float64, n*n)
	blas64.Implementation().Dsyrk(blas.Upper, blas.NoTrans, n, d, 1/float64(n), y, d, 0, g, n)
	for i := range n {
		for j := i; j < n; j++ {
			if opts.AppendOne {
				g[i*n+j] += 1 / float64(n) // the appended coordinates' product, 1·1
			}
			g[j*n+i] = g[i*n+j]
		}
	}
	return mat.NewSymDense(n, g)
}

// FactorDim returns the dimension of the factor of d-dimensional rows under opts: d, or d+1
// with the appended constant.
func FactorDim(d int, opts FactorOptions) int {
	if opts.AppendOne {
		return d + 1
	}
	return d
}

// Pad returns the spectrum of dimension d whose non-zero part is s: s followed by zeros. It is
// the spectrum of the d×d factor whose [Gram] matrix has spectrum s. Pad panics if d is below
// s.Len().
func (s Spectrum) Pad(d int) Spectrum {
	if d < s.Len() {
		panic(fmt.Sprintf("analysis: Spectrum.Pad to %d of a spectrum of %d values", d, s.Len()))
	}
	out := s
	out.Values = slices.Grow(slices.Clone(s.Values), d-s.Len())
	for len(out.Values) < d {
		out.Values = append(out.Values, 0)
	}
	if d > s.Len() && out.MinRaw > 0 {
		out.MinRaw = 0
	}
	return out
}
