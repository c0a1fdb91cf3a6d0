package netcurv

import (
	"fmt"
	"math"
)

// DefaultStep is the default relative step of the finite differences, ∛(2⁻⁵²) ≈ 6.1e-6: it
// balances their truncation error (∝ ε²) against rounding (∝ u/ε); see [Options].
var DefaultStep = math.Cbrt(0x1p-52)

// Options configure the finite-difference products ([Model.Hessian], [Model.GGN]).
//
// A product with v differences a smooth function F (the gradient ∇_S L, or the logits z) at
// θ ± h·e, e = v/‖v‖, along the selected coordinates, with h = Step·‖θ_S‖ (h = Step when
// θ_S = 0): the step is relative to the parameters' size, so that a scale-invariant layer
// (a weight feeding a BatchNorm) is differenced alike at every scale. Taylor's theorem with
// F evaluated to absolute accuracy δ gives
//
//	‖(F(θ+he) − F(θ−he))/(2h) − DF·e‖ ≤ (h²/6)·M₃ + δ/h,   M₃ = sup_{|s|≤h} ‖D³F(θ+se)[e,e,e]‖,
//
// times ‖v‖ for the product with v. For the Hessian product F = ∇_S L, so M₃ bounds the
// fourth derivative of the loss, ∇⁴L[e,e,e,·] (the third of the gradient); for J v, F = z and
// M₃ bounds the logits' third directional derivative.
// The optimum h* = (3δ/M₃)^{1/3} gives an error ≈ δ^{2/3} M₃^{1/3}; since M₃ scales like
// ‖F‖/‖θ‖³ and δ like u‖F‖ for a network, h* ≈ u^{1/3}‖θ‖ (the default) and the relative
// error is of order u^{2/3} ≈ 1e-11 times constants: measured 2e-11 for softmax regression
// and 1e-10 … 2e-9 for small MLPs and CNNs (BatchNorm ones at the high end).
// The bound assumes F smooth on the segment: a ReLU or max-pool whose input changes sign or
// order within ±h for some sample breaks it (the error is then O(1) on the affected terms,
// with probability O(h) per unit).
type Options struct {
	// Step is the relative step ε; 0 selects DefaultStep.
	Step float64
}

func (o Options) step(s *Selection) float64 {
	eps := o.Step
	if eps <= 0 {
		eps = DefaultStep
	}
	if n := norm(s.Values()); n > 0 {
		return eps * n
	}
	return eps
}

// op holds what every operator shares: the model, the selection and the first error.
type op struct {
	m   *Model
	s   *Selection
	err error
}

// Dim implements curvature.Operator.
func (o *op) Dim() int { return o.s.dim }

// Err returns the first error of a product; the product's values are then NaN.
func (o *op) Err() error { return o.err }

func (o *op) fail(dst []float64, err error) {
	if o.err == nil {
		o.err = err
	}
	for i := range dst {
		dst[i] = math.NaN()
	}
}

func (o *op) check(dst, v []float64) bool {
	if len(dst) != o.s.dim || len(v) != o.s.dim {
		o.fail(dst, fmt.Errorf("netcurv: product of a %d-vector into %d values, operator dimension %d", len(v), len(dst), o.s.dim))
		return false
	}
	return true
}

// central sets dst = (F(θ + t·v) − F(θ − t·v))/(2t) for F writing into its argument,
// t = h/‖v‖ so that the step in parameter space is h.
func central(s *Selection, h float64, dst, v []float64, f func(out []float64) error) error {
	nv := norm(v)
	if nv == 0 {
		clear(dst)
		return nil
	}
	t := h / nv
	plus := make([]float64, len(dst))
	if err := s.perturbed(t, v, func() error { return f(plus) }); err != nil {
		return err
	}
	if err := s.perturbed(-t, v, func() error { return f(dst) }); err != nil {
		return err
	}
	for i := range dst {
		dst[i] = (plus[i] - dst[i]) / (2 * t)
	}
	return nil
}

// Hessian is the operator v ↦ H_SS v, H = ∇²L, by central differences of the float64
// gradient: H v ≈ (∇_S L(θ + t v) − ∇_S L(θ − t v))/(2t), two forward-backward passes, with
// the error bound of [Options].
type Hessian struct {
	op
	h float64
}

// Hessian returns the Hessian block of the selected parameters.
func (m *Model) Hessian(s *Selection, o Options) (*Hessian, error) {
	return &Hessian{op: op{m: m, s: s}, h: o.step(s)}, nil
}

// Apply implements curvature.Operator.
func (h *Hessian) Apply(dst, v []float64) {
	if !h.check(dst, v) {
		return
	}
	if err := central(h.s, h.h, dst, v, func(out []float64) error { return h.m.Gradient(h.s, out) }); err != nil {
		h.fail(dst, err)
	}
}

// GGN is the generalised Gauss-Newton block v ↦ J_Sᵀ Λ J_S v with, for the mean softmax
// cross-entropy, Λ = (1/N) blockdiag_i(diag(pᵢ) − pᵢpᵢᵀ) the loss's Hessian in the logits
// (pᵢ = softmax(zᵢ) at θ). J_S v is a central difference of the logits (two forward passes,
// the error bound of [Options] with F = z); Jᵀu is exact, the gradient of Σ u ∘ z (one
// forward-backward pass). With BatchNorm in train mode J is the Jacobian of the whole
// batch's logits. GGN ⪰ 0.
type GGN struct {
	op
	h   float64
	p   []float64 // softmax probabilities at θ, N × C
	jvp func(dst, v []float64) error
}

// GGN returns the generalised Gauss-Newton block of the selected parameters at the current
// parameters.
func (m *Model) GGN(s *Selection, o Options) (*GGN, error) {
	z := make([]float64, m.n*m.classes)
	if err := m.Logits(z); err != nil {
		return nil, err
	}
	g := &GGN{op: op{m: m, s: s}, h: o.step(s), p: probabilities(z, m.n, m.classes)}
	g.jvp = func(dst, v []float64) error { return central(s, g.h, dst, v, m.Logits) }
	return g, nil
}

// Apply implements curvature.Operator.
func (g *GGN) Apply(dst, v []float64) {
	if !g.check(dst, v) {
		return
	}
	n, c := g.m.n, g.m.classes
	u := make([]float64, n*c)
	if err := g.jvp(u, v); err != nil {
		g.fail(dst, err)
		return
	}
	applyLambda(u, g.p, n, c)
	if err := g.m.VJP(g.s, dst, u); err != nil {
		g.fail(dst, err)
	}
}

// applyLambda sets each row uᵢ to (1/N)(diag(pᵢ) − pᵢpᵢᵀ) uᵢ.
func applyLambda(u, p []float64, n, c int) {
	for i := range n {
		ui, pi := u[i*c:(i+1)*c], p[i*c:(i+1)*c]
		s := 0.0
		for k := range ui {
			s += pi[k] * ui[k]
		}
		for k := range ui {
			ui[k] = pi[k] * (ui[k] - s) / float64(n)
		}
	}
}

func norm(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}
