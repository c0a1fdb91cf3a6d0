package curvature

import (
	"fmt"
	"math"
)

// TraceEstimate is a stochastic estimate of tr(A).
type TraceEstimate struct {
	// Value is the estimate.
	Value float64
	// StdErr is the standard error of Value estimated from the spread of the probes' values
	// (sample standard deviation / √probes); 0 with a single probe. For Hutch++ it is the
	// error of the stochastic part only, the deflated part being exact.
	StdErr float64
	// Probes is the number of random probes of the stochastic part.
	Probes int
	// Matvecs is the number of products with A.
	Matvecs int
}

// Hutchinson estimates tr(A) ≈ (1/m) Σₚ vₚᵀ A vₚ with m independent Rademacher probes
// (entries ±1): each term is unbiased, with variance 2 Σ_{i≠j} A_ij² = 2(‖A‖_F² − Σᵢ A_ii²)
// (Hutchinson 1990; Avron & Toledo 2011), so the estimate's standard deviation is
// √(2(‖A‖_F² − Σ A_ii²)/m). m matvecs.
func Hutchinson(a Operator, probes int, seed uint64) (TraceEstimate, error) {
	n := a.Dim()
	if n < 1 || probes < 1 {
		return TraceEstimate{}, fmt.Errorf("curvature: Hutchinson with dimension %d and %d probes", n, probes)
	}
	rng := newRNG(seed, streamHutchinson)
	v, w := make([]float64, n), make([]float64, n)
	vals := make([]float64, probes)
	for p := range probes {
		rademacher(rng, v)
		if err := apply(a, w, v); err != nil {
			return TraceEstimate{}, err
		}
		vals[p] = dot(v, w)
	}
	mean, se := meanStdErr(vals)
	return TraceEstimate{Value: mean, StdErr: se, Probes: probes, Matvecs: probes}, nil
}

// HutchPP estimates tr(A) with Hutch++ (Meyer, Musco, Musco & Woodruff 2021) in about
// matvecs products: s = ⌊matvecs/3⌋ Rademacher probes S give an orthonormal basis Q of A·S
// (s matvecs), whose part tr(QᵀAQ) is computed exactly (≤ s matvecs), and the rest by
// Hutchinson on the deflated (I − QQᵀ)A(I − QQᵀ) with the remaining probes:
//
//	tr(A) ≈ tr(QᵀAQ) + (1/r) Σₚ gₚᵀ (I − QQᵀ) A (I − QQᵀ) gₚ.
//
// For a PSD A its error falls like 1/matvecs instead of Hutchinson's 1/√matvecs, and it is
// exact (up to rounding) when rank(A) ≤ s. matvecs must be at least 3.
func HutchPP(a Operator, matvecs int, seed uint64) (TraceEstimate, error) {
	n := a.Dim()
	if n < 1 || matvecs < 3 {
		return TraceEstimate{}, fmt.Errorf("curvature: Hutch++ with dimension %d and %d matvecs (at least 3)", n, matvecs)
	}
	rng := newRNG(seed, streamHutchPP)
	s := matvecs / 3
	var q [][]float64
	largest := 0.0
	for range s {
		v, w := make([]float64, n), make([]float64, n)
		rademacher(rng, v)
		if err := apply(a, w, v); err != nil {
			return TraceEstimate{}, err
		}
		nw := norm(w)
		largest = max(largest, nw)
		orthogonalise(w, q)
		// A column in the span of the others (rank(A) < s) adds nothing.
		if nr := norm(w); nr > 1e-10*largest && nr > 0 {
			scale(1/nr, w)
			q = append(q, w)
		}
	}
	used := s
	exact := 0.0
	w := make([]float64, n)
	for _, qi := range q {
		if err := apply(a, w, qi); err != nil {
			return TraceEstimate{}, err
		}
		exact += dot(qi, w)
		used++
	}
	r := max(matvecs-used, 1)
	vals := make([]float64, r)
	g := make([]float64, n)
	for p := range r {
		rademacher(rng, g)
		orthogonalise(g, q)
		if err := apply(a, w, g); err != nil {
			return TraceEstimate{}, err
		}
		vals[p] = dot(g, w)
	}
	mean, se := meanStdErr(vals)
	return TraceEstimate{Value: exact + mean, StdErr: se, Probes: r, Matvecs: used + r}, nil
}

// meanStdErr returns the mean of x and its standard error.
func meanStdErr(x []float64) (mean, se float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) < 2 {
		return mean, 0
	}
	ss := 0.0
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(x)-1) / float64(len(x)))
}
