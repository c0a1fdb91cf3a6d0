package analysis

import (
	"fmt"
	"math"
)

// PValue is a metric evaluated at a fraction p ∈ (0, 1].
type PValue struct {
	P, Value float64
}

// Metrics summarises a spectrum λ1 ≥ … ≥ λd ≥ 0.
//
// A ratio whose denominator is zero is +Inf, including 0/0: a singular
// matrix (the zero matrix among them) has κ = +Inf. The ranks of the zero
// matrix are 0. Only the empty spectrum gives NaN values.
type Metrics struct {
	// Dim is d, the number of eigenvalues.
	Dim int
	// LambdaMax is λ1 and LambdaMin is λd.
	LambdaMax, LambdaMin float64
	// Kappa is the condition number λ1/λd.
	Kappa float64
	// KappaP holds the general condition numbers κ_p = λ1/λ_⌈p·d⌉
	// (1-based), which ignore the smallest (1-p)·d eigenvalues; κ_1 = κ.
	// κ, κ_p and the energy κ are rank-aware: +Inf ("rank-limited") when
	// the eigenvalue they divide by is not above the numerical-rank
	// tolerance d·ε·λ1, where the quotient would be one of round-off.
	KappaP []PValue
	// EnergyKappa holds λ1/λk with k the smallest index such that
	// λ1+…+λk reaches the fraction p of the trace.
	EnergyKappa []PValue
	// Trace is Σλ.
	Trace float64
	// NumericalRank counts the λi > d·ε·λ1, ε the float64 machine epsilon.
	NumericalRank int
	// EffectiveRank is exp(H), H the entropy of the distribution λ/Σλ.
	EffectiveRank float64
	// StableRank is Σλ/λ1.
	StableRank float64
	// Clipped is the number of negative eigenvalues clipped to 0 and
	// MinRaw the smallest eigenvalue before clipping (see Spectrum).
	Clipped int
	MinRaw  float64
}

// DefaultP returns the default fractions for κ_p and the energy κ:
// 0.2, 0.5, 0.8 and 1.
func DefaultP() []float64 { return []float64{0.2, 0.5, 0.8, 1} }

// pTol is the relative distance from an integer within which p·d counts as
// that integer, so that p = 0.7 and d = 10 select λ7 although the product
// rounds to 7.000000000000001. It is also the relative slack of the energy
// threshold.
const pTol = 1e-9

// eps is the float64 machine epsilon, 2⁻⁵².
const eps = 0x1p-52

// ValidateP checks fractions for κ_p: each must lie in (0, 1] and appear
// once (the fractions name record keys).
func ValidateP(ps []float64) error {
	for i, p := range ps {
		if !(p > 0 && p <= 1) {
			return fmt.Errorf("analysis: p[%d] = %v is outside (0, 1]", i, p)
		}
		for j := range i {
			if ps[j] == p {
				return fmt.Errorf("analysis: p[%d] = %v repeats p[%d]", i, p, j)
			}
		}
	}
	return nil
}

// PIndex returns k = ⌈p·d⌉, the 1-based index of the eigenvalue that κ_p
// divides by, clamped to [1, d]. A product p·d within a relative 1e-9 of
// an integer counts as that integer, so that decimal fractions select the
// index they denote despite binary rounding.
func PIndex(p float64, d int) int {
	x := p * float64(d)
	k := math.Ceil(x)
	if r := math.Round(x); math.Abs(x-r) <= pTol*x {
		k = r
	}
	return max(1, min(d, int(k)))
}

// Compute derives the metrics of s, with κ_p and the energy κ evaluated
// at each p of ps, in that order. It panics if ps fails [ValidateP].
func Compute(s Spectrum, ps []float64) Metrics {
	if err := ValidateP(ps); err != nil {
		panic(err.Error())
	}
	v := s.Values
	d := len(v)
	m := Metrics{
		Dim:         d,
		KappaP:      make([]PValue, len(ps)),
		EnergyKappa: make([]PValue, len(ps)),
		Clipped:     s.Clipped,
		MinRaw:      s.MinRaw,
	}
	if d == 0 {
		nan := math.NaN()
		m.LambdaMax, m.LambdaMin, m.Kappa = nan, nan, nan
		m.Trace, m.EffectiveRank, m.StableRank = nan, nan, nan
		for i, p := range ps {
			m.KappaP[i] = PValue{p, nan}
			m.EnergyKappa[i] = PValue{p, nan}
		}
		return m
	}
	l1 := v[0]
	tol := float64(d) * eps * l1
	m.LambdaMax, m.LambdaMin = l1, v[d-1]
	m.Kappa = rankRatio(l1, v[d-1], tol)

	// Summing in the same (descending) order here and in the energy scan
	// makes the last partial sum equal the trace exactly.
	for _, x := range v {
		m.Trace += x
	}
	for i, p := range ps {
		m.KappaP[i] = PValue{p, rankRatio(l1, v[PIndex(p, d)-1], tol)}
		m.EnergyKappa[i] = PValue{p, rankRatio(l1, v[energyIndex(v, m.Trace, p)-1], tol)}
	}

	for _, x := range v {
		if x > tol {
			m.NumericalRank++
		}
	}
	if m.Trace > 0 {
		var h float64
		for _, x := range v {
			if x > 0 {
				q := x / m.Trace
				h -= q * math.Log(q)
			}
		}
		m.EffectiveRank = math.Exp(h)
		m.StableRank = m.Trace / l1
	}
	return m
}

// energyIndex returns the smallest 1-based k with λ1+…+λk ≥ p·trace, up to
// a relative slack pTol.
func energyIndex(v []float64, trace, p float64) int {
	target := p * trace * (1 - pTol)
	var sum float64
	for k, x := range v {
		sum += x
		if sum >= target {
			return k + 1
		}
	}
	return len(v)
}

// rankRatio returns the condition number λ1/λk, or +Inf when λk is not above the
// numerical-rank tolerance tol = d·ε·λ1: such a λk is round-off of an eigenvalue that is zero
// to working precision (λ_k of a factor of rank < k), and λ1/λk would be a quotient of
// round-off (1e15–1e17) rather than a condition number. κ_p is therefore finite exactly when
// numerical_rank ≥ ⌈p·d⌉.
func rankRatio(l1, lk, tol float64) float64 {
	if lk <= tol {
		return math.Inf(1)
	}
	return l1 / lk
}

// StabilityRatio returns η·λmax / (2(1+μ)) for learning rate η, heavy-ball
// momentum μ (0 for plain gradient descent) and the largest curvature
// λmax. Gradient descent on a quadratic with that curvature is stable iff
// the ratio is below 1.
func StabilityRatio(lr, momentum, lambdaMax float64) float64 {
	return lr * lambdaMax / (2 * (1 + momentum))
}
