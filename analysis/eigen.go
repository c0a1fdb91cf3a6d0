package analysis

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// EigenSolver computes the eigenvalues, without eigenvectors, of a
// symmetric matrix. The values may be returned in any order.
type EigenSolver func(a *mat.SymDense) ([]float64, error)

// DefaultSolver is the solver that [Eigen] uses when given nil. Programs
// may replace it, before any concurrent use, by a faster implementation.
// Tests that replace it rely on running alone: no test calls t.Parallel
// (.ci/run checks).
var DefaultSolver EigenSolver = GonumEigenvalues

// GonumEigenvalues computes the eigenvalues of a with gonum's
// [mat.EigenSym] (LAPACK dsyev without eigenvectors: tridiagonal reduction
// followed by the QL/QR iteration).
func GonumEigenvalues(a *mat.SymDense) ([]float64, error) {
	var e mat.EigenSym
	if !e.Factorize(a, false) {
		return nil, fmt.Errorf("analysis: eigenvalue iteration did not converge for a %d×%d matrix", a.SymmetricDim(), a.SymmetricDim())
	}
	return e.Values(nil), nil
}

// Spectrum is the eigenvalue list of a positive semi-definite matrix,
// sorted in descending order, with round-off negatives clipped to zero.
type Spectrum struct {
	// Values holds λ1 ≥ λ2 ≥ … ≥ λd ≥ 0.
	Values []float64
	// Clipped counts the raw eigenvalues that were negative and set to 0.
	Clipped int
	// MinRaw is the smallest raw eigenvalue, before clipping; its
	// magnitude shows the size of the round-off when it is negative.
	MinRaw float64
}

// NewSpectrum sorts a copy of raw in descending order, sets its negative
// values to zero and counts them. raw is not modified. NewSpectrum panics
// if raw holds a NaN, which has no place in a spectrum; [Eigen] rejects
// such solver outputs with an error instead.
func NewSpectrum(raw []float64) Spectrum {
	v := slices.Clone(raw)
	s := Spectrum{Values: v}
	for i, x := range v {
		if math.IsNaN(x) {
			panic(fmt.Sprintf("analysis: NewSpectrum value %d is NaN", i))
		}
	}
	slices.Sort(v)
	slices.Reverse(v)
	if len(v) > 0 {
		s.MinRaw = v[len(v)-1]
	}
	for i := len(v) - 1; i >= 0 && v[i] < 0; i-- {
		v[i] = 0
		s.Clipped++
	}
	return s
}

// Len returns the number of eigenvalues.
func (s Spectrum) Len() int { return len(s.Values) }

// Eigen computes the spectrum of the symmetric matrix a with solver, or
// with DefaultSolver if solver is nil. It returns an error, rather than a
// meaningless spectrum, if a is empty or holds a non-finite entry (a
// diverged run produces those), or if the solver fails or returns the
// wrong number of values or a non-finite one.
func Eigen(a *mat.SymDense, solver EigenSolver) (Spectrum, error) {
	if solver == nil {
		solver = DefaultSolver
	}
	if a == nil || a.IsEmpty() {
		return Spectrum{}, errors.New("analysis: Eigen of an empty matrix")
	}
	n := a.SymmetricDim()
	raw := a.RawSymmetric() // only the upper triangle is referenced
	for i := range n {
		for j := i; j < n; j++ {
			if v := raw.Data[i*raw.Stride+j]; math.IsNaN(v) || math.IsInf(v, 0) {
				return Spectrum{}, fmt.Errorf("analysis: Eigen of a %d×%d matrix with non-finite entry %v at (%d, %d)", n, n, v, i, j)
			}
		}
	}
	sub, zeros := withoutZeroRows(a)
	vals, err := solver(sub)
	if err != nil {
		return Spectrum{}, err
	}
	if len(vals) != n-zeros {
		return Spectrum{}, fmt.Errorf("analysis: eigen solver returned %d values for a %d×%d matrix", len(vals), n-zeros, n-zeros)
	}
	if zeros > 0 {
		vals = append(make([]float64, zeros), vals...) // ascending, like the solvers' output
	}
	for i, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Spectrum{}, fmt.Errorf("analysis: eigen solver returned non-finite value %v at index %d for a %d×%d matrix", v, i, n, n)
		}
	}
	return NewSpectrum(vals), nil
}

// sortDescendingNonNegative sorts v, whose values are finite and ≥ 0, largest first. Such
// float64s order as their IEEE bit patterns do, so a radix sort on the bits gives exactly the
// order of a comparison sort, several times faster on the 10⁵–10⁶ products of a Kronecker
// spectrum. Short slices use the comparison sort.
func sortDescendingNonNegative(v []float64) {
	if len(v) < 4096 {
		slices.Sort(v)
		slices.Reverse(v)
		return
	}
	const bits = 16
	keys := make([]uint64, len(v))
	for i, x := range v {
		keys[i] = ^math.Float64bits(x) // complemented: ascending keys are descending values
	}
	tmp := make([]uint64, len(v))
	var count [1 << bits]int
	for shift := uint(0); shift < 64; shift += bits {
		clear(count[:])
		for _, k := range keys {
			count[(k>>shift)&(1<<bits-1)]++
		}
		if count[(keys[0]>>shift)&(1<<bits-1)] == len(keys) {
			continue // every key has this digit: the pass would not move anything
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, k := range keys {
			d := (k >> shift) & (1<<bits - 1)
			tmp[count[d]] = k
			count[d]++
		}
		keys, tmp = tmp, keys
	}
	for i, k := range keys {
		v[i] = math.Float64frombits(^k)
	}
}

// withoutZeroRows returns a without its rows (and columns) that are exactly zero, and how many
// it dropped: each is an exact zero eigenvalue, and the rest of the spectrum is the smaller
// matrix's. Second moments have them wherever an input never varies from zero over the
// sample (MNIST's border pixels, ReLU units that stay off), and dropping them saves a cubic
// share of the eigen-decomposition. a itself is returned when no row is zero, or all are
// (a solver still sees a non-empty matrix).
func withoutZeroRows(a *mat.SymDense) (*mat.SymDense, int) {
	n := a.SymmetricDim()
	raw := a.RawSymmetric() // upper triangle: row i is a[k][i] for k < i and a[i][j] for j ≥ i
	zero := make([]bool, n)
	keep := 0
	for i := range n {
		zero[i] = true
		for k := 0; k < i && zero[i]; k++ {
			zero[i] = raw.Data[k*raw.Stride+i] == 0
		}
		for j := i; j < n && zero[i]; j++ {
			zero[i] = raw.Data[i*raw.Stride+j] == 0
		}
		if !zero[i] {
			keep++
		}
	}
	if keep == n || keep == 0 {
		return a, 0
	}
	idx := make([]int, 0, keep)
	for i, z := range zero {
		if !z {
			idx = append(idx, i)
		}
	}
	sub := mat.NewSymDense(keep, nil)
	for r, i := range idx {
		for c := r; c < keep; c++ {
			sub.SetSym(r, c, raw.Data[i*raw.Stride+idx[c]])
		}
	}
	return sub, n - keep
}

// KroneckerSpectrum returns the spectrum of A⊗B from the spectra of A and
// B: all d_A·d_B products λi·μj, sorted in descending order. The inputs are
// already clipped, so nothing is clipped here: the result has Clipped = 0
// and MinRaw equal to its smallest value.
func KroneckerSpectrum(a, b Spectrum) Spectrum {
	// The values are sorted and non-negative, so the zeros of a rank-deficient factor sit at
	// the end and their products need no sorting: only the non-zero block is sorted.
	nonzero := func(s Spectrum) []float64 {
		n := len(s.Values)
		for n > 0 && s.Values[n-1] == 0 {
			n--
		}
		return s.Values[:n]
	}
	na, nb := nonzero(a), nonzero(b)
	v := make([]float64, 0, len(a.Values)*len(b.Values))
	for _, x := range na {
		for _, y := range nb {
			v = append(v, x*y)
		}
	}
	sortDescendingNonNegative(v)
	v = v[:cap(v)] // the products with a zero: zeros, at the end
	s := Spectrum{Values: v}
	if len(v) > 0 {
		s.MinRaw = v[len(v)-1]
	}
	return s
}
