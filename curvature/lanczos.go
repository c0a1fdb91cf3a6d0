package curvature

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/mat"
)

// Which selects the end of the spectrum Lanczos reports.
type Which int

const (
	// Largest: the k algebraically largest eigenvalues, in descending order (the sharpness of
	// a Hessian is the largest).
	Largest Which = iota
	// Smallest: the k algebraically smallest, in ascending order (negative curvature).
	Smallest
	// LargestMagnitude: the k of largest |λ|, by descending |λ|.
	LargestMagnitude
)

// LanczosOptions configure [Lanczos]. Zero values select the defaults.
type LanczosOptions struct {
	// K is the number of eigenvalues wanted; default 1.
	K int
	// Which end of the spectrum; default Largest.
	Which Which
	// MaxIter bounds the Krylov dimension (= matvecs, = basis vectors held); default
	// min(Dim, max(60, 4K)).
	MaxIter int
	// Tol is the relative residual of a converged Ritz pair, ‖A y − θ y‖ ≤ Tol·max|θ|;
	// default 1e-8. A Ritz value's error is at most residual²/gap, gap the distance to the
	// rest of the spectrum (Parlett, The Symmetric Eigenvalue Problem, §11.7).
	Tol float64
	// Seed of the random (Gaussian) start vector.
	Seed uint64
	// Start, when not nil, is the start vector instead (any non-zero length-Dim vector; it is
	// normalised). A close guess of the wanted eigenvector, such as the one computed for a
	// slightly different operator, cuts the iterations; restarts after a breakdown are still
	// random.
	Start []float64
	// Vectors asks for the Ritz vectors.
	Vectors bool
}

// Eigen is the result of [Lanczos].
type Eigen struct {
	// Values are the wanted Ritz values, ordered as Which says.
	Values []float64
	// Vectors are the unit Ritz vectors of Values, when asked for.
	Vectors [][]float64
	// Residuals are ‖A y − θ y‖ of the Ritz pairs (exact in exact arithmetic: β_m·|s_m|).
	Residuals []float64
	// Iterations is the Krylov dimension reached, the number of matvecs.
	Iterations int
	// Converged reports whether every wanted pair met Tol.
	Converged bool
}

// Lanczos computes k extreme eigenvalues of the symmetric operator a by the Lanczos process
// with full reorthogonalisation: after j steps, A Q_j = Q_j T_j + β_j q_{j+1} e_jᵀ with Q_j
// orthonormal (kept so to working precision by orthogonalising every new vector against all
// previous ones, twice) and T_j tridiagonal; the eigenvalues θ of T_j (Ritz values) approach
// the extreme eigenvalues of A, and the Ritz vector y = Q_j s has residual β_j·|e_jᵀ s|.
//
// A single Krylov space holds one copy of a repeated eigenvalue. A breakdown (β_j ≈ 0: the
// space is invariant, which happens after as many steps as A has distinct eigenvalues)
// restarts from a new random vector orthogonal to Q_j, which finds the other copies; the
// process stops at a breakdown that ends a block which changed none of the wanted values
// (so a low-rank operator costs about its rank plus one block of matvecs). Without
// a breakdown, further copies appear only through rounding: a repeated eigenvalue may then be
// reported fewer times than it occurs (block Lanczos would be needed).
// Convergence is tested every few steps; the result holds the best Ritz values even when
// MaxIter is reached first (Converged = false).
func Lanczos(a Operator, opt LanczosOptions) (Eigen, error) {
	n := a.Dim()
	if n < 1 {
		return Eigen{}, fmt.Errorf("curvature: Lanczos on an operator of dimension %d", n)
	}
	k := max(opt.K, 1)
	if k > n {
		return Eigen{}, fmt.Errorf("curvature: Lanczos asked for %d eigenvalues of a %d-dimensional operator", k, n)
	}
	maxIter := opt.MaxIter
	if maxIter <= 0 {
		maxIter = max(60, 4*k)
	}
	maxIter = min(max(maxIter, k), n)
	tol := opt.Tol
	if tol <= 0 {
		tol = 1e-8
	}
	rng := newRNG(opt.Seed, streamLanczos)

	var (
		q           [][]float64
		alpha, beta []float64
	)
	v := make([]float64, n)
	switch {
	case opt.Start == nil:
		gaussian(rng, v)
	case len(opt.Start) != n:
		return Eigen{}, fmt.Errorf("curvature: Lanczos start vector of length %d for a %d-dimensional operator", len(opt.Start), n)
	default:
		copy(v, opt.Start)
	}
	nv := norm(v)
	if !(nv > 0) || math.IsInf(nv, 0) { // NaN fails nv > 0
		return Eigen{}, fmt.Errorf("curvature: Lanczos start vector of norm %v; expected a finite non-zero vector", nv)
	}
	scale(1/nv, v)
	res := Eigen{}
	var prevWanted []float64 // wanted values at the previous breakdown
	for j := 0; j < maxIter; j++ {
		q = append(q, v)
		w := make([]float64, n)
		if err := apply(a, w, v); err != nil {
			return Eigen{}, err
		}
		if j > 0 {
			axpy(-beta[j-1], q[j-1], w)
		}
		alpha = append(alpha, dot(v, w))
		axpy(-alpha[j], v, w)
		orthogonalise(w, q)
		b := norm(w)
		m := j + 1
		anorm := tridiagNorm(alpha, beta)
		breakdown := b <= 1e-12*anorm || anorm == 0
		if breakdown {
			b = 0
		}
		last := m == maxIter
		if m >= k && (last || breakdown || m%checkEvery(m) == 0) {
			theta, s, err := tridiagEigen(alpha, beta)
			if err != nil {
				return Eigen{}, err
			}
			idx := pick(theta, k, opt.Which)
			res = Eigen{Iterations: m, Converged: true}
			scaleTol := tol * max(math.Abs(theta[0]), math.Abs(theta[m-1]))
			for _, i := range idx {
				r := b * math.Abs(s.At(m-1, i))
				res.Values = append(res.Values, theta[i])
				res.Residuals = append(res.Residuals, r)
				if r > scaleTol {
					res.Converged = false
				}
			}
			// After a breakdown every Ritz pair is exact but copies of repeated eigenvalues
			// may still be missing: carry on with a new block unless the last one added no
			// wanted value (or the space is exhausted).
			done := res.Converged && !breakdown
			if breakdown {
				done = slices.Equal(res.Values, prevWanted)
				prevWanted = slices.Clone(res.Values)
			}
			if done || last || m == n {
				if opt.Vectors {
					res.Vectors = ritzVectors(q, s, idx)
				}
				return res, nil
			}
		}
		if breakdown {
			gaussian(rng, w)
			orthogonalise(w, q)
			b2 := norm(w)
			if b2 == 0 {
				return res, nil
			}
			scale(1/b2, w)
		} else {
			scale(1/b, w)
		}
		beta = append(beta, b)
		v = w
	}
	return res, nil
}

// checkEvery is the interval of convergence tests: each costs O(m³) for an m×m tridiagonal
// matrix, negligible against m matvecs while m is small.
func checkEvery(m int) int {
	if m < 50 {
		return 1
	}
	return 5
}

// tridiagNorm bounds ‖T‖ by its largest absolute row sum.
func tridiagNorm(alpha, beta []float64) float64 {
	s := 0.0
	for i, a := range alpha {
		r := math.Abs(a)
		if i > 0 {
			r += math.Abs(beta[i-1])
		}
		if i < len(beta) {
			r += math.Abs(beta[i])
		}
		s = max(s, r)
	}
	return s
}

// tridiagEigen returns the ascending eigenvalues and the eigenvectors (columns) of the
// symmetric tridiagonal matrix with diagonal alpha and off-diagonal beta[:len(alpha)−1].
func tridiagEigen(alpha, beta []float64) ([]float64, *mat.Dense, error) {
	m := len(alpha)
	t := mat.NewSymDense(m, nil)
	for i := range m {
		t.SetSym(i, i, alpha[i])
		if i+1 < m {
			t.SetSym(i, i+1, beta[i])
		}
	}
	var es mat.EigenSym
	if !es.Factorize(t, true) {
		return nil, nil, fmt.Errorf("curvature: eigen-decomposition of the %d×%d tridiagonal matrix failed", m, m)
	}
	var s mat.Dense
	es.VectorsTo(&s)
	return es.Values(nil), &s, nil
}

// pick returns the indices of the k wanted values of the ascending theta.
func pick(theta []float64, k int, which Which) []int {
	m := len(theta)
	idx := make([]int, 0, k)
	switch which {
	case Smallest:
		for i := range k {
			idx = append(idx, i)
		}
	case LargestMagnitude:
		all := make([]int, m)
		for i := range all {
			all[i] = i
		}
		sort.SliceStable(all, func(a, b int) bool { return math.Abs(theta[all[a]]) > math.Abs(theta[all[b]]) })
		idx = append(idx, all[:k]...)
	default:
		for i := m - 1; i >= m-k; i-- {
			idx = append(idx, i)
		}
	}
	return idx
}

// ritzVectors returns Q·s_i for the chosen columns of s.
func ritzVectors(q [][]float64, s *mat.Dense, idx []int) [][]float64 {
	out := make([][]float64, len(idx))
	for o, i := range idx {
		y := make([]float64, len(q[0]))
		for j, qj := range q {
			axpy(s.At(j, i), qj, y)
		}
		out[o] = y
	}
	return out
}
