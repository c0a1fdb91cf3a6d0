package curvature

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// Operator is a symmetric linear map on R^Dim(), known through its products.
// Apply sets dst = A·v; dst and v have length Dim() and do not overlap.
type Operator interface {
	Dim() int
	Apply(dst, v []float64)
}

// failer is implemented by operators whose products can fail (a network that does not
// run): they fill dst with NaN and report the cause here.
type failer interface{ Err() error }

// Dense is the operator of an explicit symmetric matrix.
type Dense struct{ A mat.Symmetric }

// Dim implements Operator.
func (d Dense) Dim() int { return d.A.SymmetricDim() }

// Apply implements Operator.
func (d Dense) Apply(dst, v []float64) {
	mat.NewVecDense(len(dst), dst).MulVec(d.A, mat.NewVecDense(len(v), v))
}

// Func adapts a function to an Operator of dimension N.
type Func struct {
	N int
	F func(dst, v []float64)
}

// Dim implements Operator.
func (f Func) Dim() int { return f.N }

// Apply implements Operator.
func (f Func) Apply(dst, v []float64) { f.F(dst, v) }

// Matrix forms the dense matrix of a by n = Dim() products with the unit vectors,
// symmetrised as (A + Aᵀ)/2: for small operators and tests.
func Matrix(a Operator) (*mat.SymDense, error) {
	n := a.Dim()
	cols := make([][]float64, n)
	e := make([]float64, n)
	for j := range n {
		e[j] = 1
		cols[j] = make([]float64, n)
		if err := apply(a, cols[j], e); err != nil {
			return nil, err
		}
		e[j] = 0
	}
	s := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			s.SetSym(i, j, (cols[j][i]+cols[i][j])/2)
		}
	}
	return s, nil
}

// apply computes dst = A·v and refuses a non-finite result.
func apply(a Operator, dst, v []float64) error {
	clear(dst)
	a.Apply(dst, v)
	for i, x := range dst {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			if f, ok := a.(failer); ok && f.Err() != nil {
				return fmt.Errorf("curvature: operator product failed: %w", f.Err())
			}
			return fmt.Errorf("curvature: operator product has a non-finite entry %d = %v", i, x)
		}
	}
	return nil
}

// newRNG is the generator of every random vector of the package: PCG seeded with seed, on a
// stream of its own per use so that, say, Lanczos and SLQ with the same seed do not share
// vectors by accident.
func newRNG(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x6c776361_00000000|stream))
}

const (
	streamLanczos uint64 = iota + 1
	streamPower
	streamHutchinson
	streamHutchPP
	streamSLQ
)

// rademacher fills v with independent ±1, 64 signs per draw.
func rademacher(rng *rand.Rand, v []float64) {
	var bits uint64
	for i := range v {
		if i%64 == 0 {
			bits = rng.Uint64()
		}
		v[i] = float64(int(bits&1)*2 - 1)
		bits >>= 1
	}
}

// gaussian fills v with independent standard normals.
func gaussian(rng *rand.Rand, v []float64) {
	for i := range v {
		v[i] = rng.NormFloat64()
	}
}

// dot and axpy run gonum's assembly kernels: Lanczos spends its own time (besides the
// products) in them, reorthogonalising against every basis vector.
func dot(a, b []float64) float64 { return floats.Dot(a, b) }

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }

// axpy sets y += alpha·x.
func axpy(alpha float64, x, y []float64) { floats.AddScaled(y, alpha, x) }

func scale(alpha float64, x []float64) {
	for i := range x {
		x[i] *= alpha
	}
}

// orthogonalise removes from w its components along the orthonormal vectors of basis,
// twice (classical Gram-Schmidt repeated: "twice is enough", Giraud et al. 2005).
func orthogonalise(w []float64, basis [][]float64) {
	for range 2 {
		for _, q := range basis {
			axpy(-dot(q, w), q, w)
		}
	}
}
