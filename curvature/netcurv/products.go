package netcurv

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/lwca/lwca/curvature/rop"
	"github.com/lwca/lwca/graph"
)

// DefaultStep is the default relative step of the finite differences, ∛(2⁻⁵²) ≈ 6.1e-6: it
// balances their truncation error (∝ ε²) against rounding (∝ u/ε); see [Options].
var DefaultStep = math.Cbrt(0x1p-52)

// Options configure the curvature products ([Model.Hessian], [Model.GGN]).
//
// The Hessian product is exact where every layer of the network has an R-operator (package
// rop: Pearlmutter's forward-over-reverse differentiation, what double backprop computes, in
// float64 unless Single), and a central difference of gradients otherwise or with
// Differences. The GGN's J v is always a central difference.
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
// The bound assumes F smooth on the segment. A rectifier whose input changes sign within ±h
// for some sample breaks it: the gradient jumps there, and its difference quotient gains a
// term of order 1/h (the logits are continuous, so J v only gains O(1) per crossing unit).
// On a large batch of a ReLU network, the default step crosses such kinks in most products.
// Each product therefore compares the activation pattern (where the weighted layers' inputs
// are exactly zero, as the hooks record them) at θ + he and θ − he; when they differ it
// retries with h/8, up to Refine times. The product is then the derivative on the smooth
// piece that contains θ (the almost-everywhere Hessian autodiff would give), at the cost of
// a rounding error up to 8^Refine times larger. Kinks the hooks do not see (a max pool's
// winner changing, a rectifier followed by BatchNorm before the next weighted layer) are
// detected only with Verify. [Stats] counts refined and unresolved products.
type Options struct {
	// Differences selects the finite-difference Hessian product even where the exact one
	// exists.
	Differences bool
	// Single computes exact Hessian products in float32: twice as fast, with a relative
	// error of about 1e-6 instead of 1e-13.
	Single bool
	// Step is the relative step ε; 0 selects DefaultStep.
	Step float64
	// Verify also computes every product with the step h/8 and refines while the two differ
	// by more than 1e-6 relative: it catches kinks the activation pattern does not show
	// (max pooling), at twice the cost.
	Verify bool
	// Refine is the number of times the step may be divided by 8 when the activation
	// pattern changes within it; 0 selects 6 (down to a relative step of 2e-11, where
	// rounding costs about 1e-5 relative), a negative value never refines.
	Refine int
}

// Stats counts an operator's finite-difference products.
type Stats struct {
	// Products is the number of products.
	Products int
	// Refined counts products that needed a smaller step than the first.
	Refined int
	// Unresolved counts products whose smallest step still changed the activation pattern.
	Unresolved int
}

func (o Options) refine() int {
	switch {
	case o.Refine < 0:
		return 0
	case o.Refine == 0:
		return 6
	}
	return o.Refine
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

// diff holds what a finite-difference operator shares: the step and the statistics.
type diff struct {
	h      float64
	refine int
	verify bool
	stats  Stats
}

// Stats returns the counts of the operator's products so far.
func (d *diff) Stats() Stats { return d.stats }

// verifyTol is the relative difference between the quotients at h and h/8 that Verify
// accepts: on a smooth piece it is (63/64)(h²/6)M₃ plus rounding, about 1e-9 at the
// default step; a kink within the step makes it O(1).
const verifyTol = 1e-6

// central sets dst = (F(θ + t·v) − F(θ − t·v))/(2t) for F writing into its argument and
// returning the activation pattern, t = h/‖v‖ so that the step in parameter space is h; the
// step shrinks while the patterns at the two ends differ, or with verify while the quotient
// at h/8 differs from it (see Options).
func (d *diff) central(s *Selection, dst, v []float64, f func(out []float64) ([]uint64, error)) error {
	d.stats.Products++
	if norm(v) == 0 {
		clear(dst)
		return nil
	}
	h := d.h
	for r := 0; ; r++ {
		ok, err := quotient(s, h, dst, v, f)
		if err != nil {
			return err
		}
		if ok && d.verify && r < d.refine {
			finer := make([]float64, len(dst))
			if ok, err = quotient(s, h/8, finer, v, f); err != nil {
				return err
			}
			ok = ok && relDiff(dst, finer) <= verifyTol
		}
		if ok || r == d.refine {
			if r > 0 {
				d.stats.Refined++
			}
			if !ok {
				d.stats.Unresolved++
			}
			return nil
		}
		h /= 8
	}
}

// quotient sets dst to the central difference quotient of f along v with step h in
// parameter space and reports whether the activation patterns at the two ends agree.
func quotient(s *Selection, h float64, dst, v []float64, f func(out []float64) ([]uint64, error)) (bool, error) {
	t := h / norm(v)
	plus := make([]float64, len(dst))
	var pp, pm []uint64
	err := s.perturbed(t, v, func() (err error) { pp, err = f(plus); return err })
	if err == nil {
		err = s.perturbed(-t, v, func() (err error) { pm, err = f(dst); return err })
	}
	if err != nil {
		return false, err
	}
	for i := range dst {
		dst[i] = (plus[i] - dst[i]) / (2 * t)
	}
	return slices.Equal(pp, pm), nil
}

// relDiff returns ‖a − b‖/‖b‖ (‖a − b‖ when b = 0).
func relDiff(a, b []float64) float64 {
	var d, n float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		n += b[i] * b[i]
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

// Hessian is the operator v ↦ H_SS v, H = ∇²L: exact (see [Options]) at the parameters of
// the call to [Model.Hessian], one tangent and one backward pass per product; or by central
// differences of the float64 gradient at the current parameters,
// H v ≈ (∇_S L(θ + t v) − ∇_S L(θ − t v))/(2t), two forward-backward passes, with the error
// bound of [Options].
type Hessian struct {
	op
	diff
	exact hvp // nil: finite differences
}

// hvp is an exact Hessian-vector product (a rop.Program).
type hvp interface {
	HVP(params []*graph.Param, dst, v []float64) error
}

// Hessian returns the Hessian block of the selected parameters.
func (m *Model) Hessian(s *Selection, o Options) (*Hessian, error) {
	h := &Hessian{op: op{m: m, s: s}, diff: diff{h: o.step(s), refine: o.refine(), verify: o.Verify}}
	if o.Differences {
		return h, nil
	}
	p, err := m.exactProgram(o.Single)
	if errors.Is(err, rop.ErrUnsupported) {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	h.exact = p
	return h, nil
}

// Exact reports whether the products are exact rather than finite differences.
func (h *Hessian) Exact() bool { return h.exact != nil }

// Apply implements curvature.Operator.
func (h *Hessian) Apply(dst, v []float64) {
	if !h.check(dst, v) {
		return
	}
	if h.exact != nil {
		h.stats.Products++
		if err := h.exact.HVP(h.s.Params, dst, v); err != nil {
			h.fail(dst, err)
		}
		return
	}
	if err := h.central(h.s, dst, v, func(out []float64) ([]uint64, error) { return h.m.gradientPattern(h.s, out) }); err != nil {
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
	diff
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
	g := &GGN{op: op{m: m, s: s}, diff: diff{h: o.step(s), refine: o.refine(), verify: o.Verify}, p: probabilities(z, m.n, m.classes)}
	g.jvp = func(dst, v []float64) error { return g.central(s, dst, v, m.logitsPattern) }
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
