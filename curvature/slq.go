package curvature

import (
	"fmt"
	"math"
)

// Density is a spectral density estimated by stochastic Lanczos quadrature: for each probe
// p, nodes θ_{p,k} (Ritz values) and weights τ_{p,k} ≥ 0 summing to 1, and
//
//	φ(t) = (1/P) Σₚ Σₖ τ_{p,k} δ(t − θ_{p,k})  ≈  (1/n) Σᵢ δ(t − λᵢ).
type Density struct {
	// Dim is n, the operator's dimension.
	Dim int
	// Nodes and Weights hold one quadrature rule per probe.
	Nodes, Weights [][]float64
	// Matvecs is the number of products with A.
	Matvecs int
}

// SLQ estimates the spectral density of a (Ubaru, Chen & Saad 2017; Ghorbani, Krishnan &
// Xiao 2019; PyHessian, curvlinops): for each of probes Rademacher vectors v (‖v‖² = n),
// steps Lanczos steps from v/‖v‖ with full reorthogonalisation give a tridiagonal T; its
// eigenvalues θₖ are the nodes and the squared first components of its unit eigenvectors
// τₖ = (e₁ᵀsₖ)² the weights of a Gauss quadrature rule for the measure
// Σᵢ (uᵢᵀv)²/n δ(t − λᵢ), whose expectation over v is the spectral density. The rule is
// exact for polynomials of degree ≤ 2·steps − 1, so for such f
//
//	Σₖ τₖ f(θₖ) = vᵀ f(A) v / n  exactly, and  E = tr f(A) / n.
//
// Cost: probes·steps matvecs and steps vectors of memory. PyHessian's defaults are 1 probe
// (iter = 100 nodes); Ghorbani et al. use 10 probes of 90 steps. Few probes suffice for the
// shape of a high-dimensional spectrum (the variance of each rule's moments falls like 1/n);
// the nodes resolve the edges of the spectrum best, its bulk only to about the spacing of
// the nodes. A probe whose Krylov space is invariant before steps (small n) stops early,
// with an exact rule.
func SLQ(a Operator, probes, steps int, seed uint64) (Density, error) {
	n := a.Dim()
	if n < 1 || probes < 1 || steps < 1 {
		return Density{}, fmt.Errorf("curvature: SLQ with dimension %d, %d probes and %d steps", n, probes, steps)
	}
	steps = min(steps, n)
	rng := newRNG(seed, streamSLQ)
	d := Density{Dim: n}
	for range probes {
		v := make([]float64, n)
		rademacher(rng, v)
		scale(1/math.Sqrt(float64(n)), v)
		alpha, beta, mv, err := lanczosRun(a, v, steps)
		if err != nil {
			return Density{}, err
		}
		d.Matvecs += mv
		theta, s, err := tridiagEigen(alpha, beta)
		if err != nil {
			return Density{}, err
		}
		tau := make([]float64, len(theta))
		for k := range theta {
			tau[k] = s.At(0, k) * s.At(0, k)
		}
		d.Nodes = append(d.Nodes, theta)
		d.Weights = append(d.Weights, tau)
	}
	return d, nil
}

// lanczosRun runs up to steps Lanczos steps from the unit vector v, stopping early at an
// invariant subspace; it returns T's diagonal and off-diagonal and the number of matvecs.
func lanczosRun(a Operator, v []float64, steps int) (alpha, beta []float64, matvecs int, err error) {
	var q [][]float64
	for j := range steps {
		q = append(q, v)
		w := make([]float64, len(v))
		if err := apply(a, w, v); err != nil {
			return nil, nil, 0, err
		}
		matvecs++
		if j > 0 {
			axpy(-beta[j-1], q[j-1], w)
		}
		alpha = append(alpha, dot(v, w))
		axpy(-alpha[j], v, w)
		orthogonalise(w, q)
		b := norm(w)
		if j+1 == steps || b <= 1e-12*tridiagNorm(alpha, beta) {
			break
		}
		beta = append(beta, b)
		scale(1/b, w)
		v = w
	}
	return alpha, beta[:len(alpha)-1], matvecs, nil
}

// Moment returns ∫ tᵏ φ(t) dt = (1/P) Σₚ Σₖ τ θᵏ, the estimate of tr(Aᵏ)/n.
func (d Density) Moment(k int) float64 {
	s := 0.0
	for p, nodes := range d.Nodes {
		for i, t := range nodes {
			s += d.Weights[p][i] * math.Pow(t, float64(k))
		}
	}
	return s / float64(len(d.Nodes))
}

// Trace returns n·Moment(1), the estimate of tr(A): Hutchinson's with the same probes.
func (d Density) Trace() float64 { return float64(d.Dim) * d.Moment(1) }

// Smooth returns the density broadened by a Gaussian of standard deviation sigma at each
// grid point t: (1/P) Σₚ Σₖ τ exp(−(t−θ)²/(2σ²))/(σ√(2π)) (PyHessian's display form).
func (d Density) Smooth(grid []float64, sigma float64) []float64 {
	out := make([]float64, len(grid))
	c := 1 / (sigma * math.Sqrt(2*math.Pi) * float64(len(d.Nodes)))
	for p, nodes := range d.Nodes {
		for i, t := range nodes {
			w := d.Weights[p][i] * c
			for g, x := range grid {
				z := (x - t) / sigma
				out[g] += w * math.Exp(-z*z/2)
			}
		}
	}
	return out
}
