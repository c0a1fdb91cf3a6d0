package curvature

import (
	"fmt"
	"math"
)

// PowerOptions configure [PowerIteration]. Zero values select the defaults.
type PowerOptions struct {
	// MaxIter bounds the number of matvecs; default 500.
	MaxIter int
	// Tol is the relative residual at which to stop, ‖A v − λ v‖ ≤ Tol·|λ|; default 1e-6.
	Tol float64
	// Seed of the random (Gaussian) start vector.
	Seed uint64
}

// PowerResult is the result of [PowerIteration].
type PowerResult struct {
	// Value is the Rayleigh quotient vᵀAv of the final unit vector.
	Value float64
	// Vector is that unit vector.
	Vector []float64
	// Residual is ‖A v − λ v‖.
	Residual float64
	// Iterations is the number of matvecs.
	Iterations int
	// Converged reports whether Tol was met.
	Converged bool
}

// PowerIteration estimates the eigenvalue of largest magnitude of a by v ← Av/‖Av‖, one
// matvec per step. The error shrinks like |λ₂/λ₁|^iterations, so it is cheap when the top
// eigenvalue is well separated and slow otherwise; the Rayleigh quotient's error is at most
// residual²/gap. It converges to the eigenvalue of largest |λ|, which for an indefinite
// Hessian may be a negative one, and does not converge when λ and −λ are both extreme
// (use [Lanczos] then).
func PowerIteration(a Operator, opt PowerOptions) (PowerResult, error) {
	n := a.Dim()
	if n < 1 {
		return PowerResult{}, fmt.Errorf("curvature: power iteration on an operator of dimension %d", n)
	}
	maxIter := opt.MaxIter
	if maxIter <= 0 {
		maxIter = 500
	}
	tol := opt.Tol
	if tol <= 0 {
		tol = 1e-6
	}
	v := make([]float64, n)
	gaussian(newRNG(opt.Seed, streamPower), v)
	scale(1/norm(v), v)
	w := make([]float64, n)
	var res PowerResult
	for it := 1; it <= maxIter; it++ {
		if err := apply(a, w, v); err != nil {
			return PowerResult{}, err
		}
		lambda := dot(v, w)
		r := 0.0
		for i := range w {
			d := w[i] - lambda*v[i]
			r += d * d
		}
		res = PowerResult{Value: lambda, Vector: append([]float64(nil), v...), Residual: math.Sqrt(r), Iterations: it}
		nw := norm(w)
		if res.Residual <= tol*math.Abs(lambda) || nw == 0 {
			res.Converged = true
			return res, nil
		}
		for i := range v {
			v[i] = w[i] / nw
		}
	}
	return res, nil
}
