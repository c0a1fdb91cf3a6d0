package optim

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

func init() {
	for _, name := range []string{"adam", "adamw"} {
		decoupled := name == "adamw"
		Register(name, Factory{
			Options: func() any { return &AdamOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} },
			New: func(options any, weightDecay float64) (Optimizer, error) {
				o, err := optionsOf[AdamOptions](name, options)
				if err != nil {
					return nil, err
				}
				return NewAdam(*o, weightDecay, decoupled), nil
			},
		})
	}
}

// AdamOptions are the options of the registered optimisers adam and adamw.
type AdamOptions struct {
	Beta1 float64 `yaml:"beta1"` // decay rate of the first moment, in [0, 1); default 0.9
	Beta2 float64 `yaml:"beta2"` // decay rate of the second moment, in [0, 1); default 0.999
	Eps   float64 `yaml:"eps"`   // added to the denominator, > 0; default 1e-8
}

// Check checks the options' ranges.
func (o *AdamOptions) Check() []OptionProblem {
	ps := unitInterval(nil, "beta1", o.Beta1)
	ps = unitInterval(ps, "beta2", o.Beta2)
	if !(o.Eps > 0) || math.IsInf(o.Eps, 1) {
		ps = append(ps, OptionProblem{Field: "eps", Msg: fmt.Sprintf("must be a finite number > 0, got %v", o.Eps)})
	}
	return ps
}

// Adam is Kingma and Ba's Adam with PyTorch's update rule and order of operations
// (torch.optim.Adam and, decoupled, torch.optim.AdamW). At step t = 1, 2, …:
//
//	Adam:  g ← ∇ + λ·w                    AdamW: g ← ∇;  w ← w·(1 − η·λ)
//	m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//	w ← w − η/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε)
//
// ε is added after the bias correction of √v, as PyTorch does. (PyTorch ≥ 2.0 forms m as
// the lerp m + (1−β1)·(g − m), equal up to rounding.) The state is the buffers
// "exp_avg" (m) and "exp_avg_sq" (v) of every parameter and the scalar "step" (t).
type Adam struct {
	opts        AdamOptions
	weightDecay float64
	decoupled   bool  // AdamW
	t           int64 // steps taken
	m, v        []any // per parameter: []float32 or []float64, allocated on the first step
}

// NewAdam returns Adam with weight decay λ = weightDecay, added to the gradient (L2, Adam)
// or decoupled from it (AdamW).
func NewAdam(o AdamOptions, weightDecay float64, decoupled bool) *Adam {
	return &Adam{opts: o, weightDecay: weightDecay, decoupled: decoupled}
}

// State returns the moment buffers and the step count.
func (a *Adam) State() State {
	st := State{Buffers: make([]map[string]any, len(a.m)), Scalars: map[string]float64{"step": float64(a.t)}}
	for i := range a.m {
		if a.m[i] != nil {
			st.Buffers[i] = map[string]any{"exp_avg": a.m[i], "exp_avg_sq": a.v[i]}
		}
	}
	return st
}

// SetState restores the moments and the step count: after t > 0 steps every parameter has
// both moments, before the first none has.
func (a *Adam) SetState(st State) error {
	t, ok := st.Scalars["step"]
	if len(st.Scalars) > 1 || len(st.Scalars) == 1 && !ok {
		return fmt.Errorf("optim: adam state holds scalars %v, want step", st.Scalars)
	}
	if !(t >= 0 && t <= 1<<53 && t == math.Trunc(t)) {
		return fmt.Errorf("optim: adam step count %v is not a count", t)
	}
	bufs, held, err := slots(st, "exp_avg", "exp_avg_sq")
	if err != nil {
		return err
	}
	if t == 0 && held > 0 || t > 0 && held != len(st.Buffers) {
		return fmt.Errorf("optim: adam state after %v steps has moments for %d of %d parameters", t, held, len(st.Buffers))
	}
	a.t, a.m, a.v = int64(t), bufs["exp_avg"], bufs["exp_avg_sq"]
	return nil
}

// Step takes one Adam step with learning rate lr.
func (a *Adam) Step(weights, grads []*tensor.Dense, lr float64) error {
	if err := checkPairs(weights, grads); err != nil {
		return err
	}
	if a.m == nil {
		a.m, a.v = make([]any, len(weights)), make([]any, len(weights))
	}
	if len(a.m) != len(weights) {
		return fmt.Errorf("optim: state for %d parameters, stepping %d", len(a.m), len(weights))
	}
	for i, w := range weights {
		if err := allocate(&a.m[i], w); err != nil {
			return fmt.Errorf("optim: parameter %d: %w", i, err)
		}
		if err := allocate(&a.v[i], w); err != nil {
			return fmt.Errorf("optim: parameter %d: %w", i, err)
		}
	}
	a.t++
	// The scalar coefficients in float64, as PyTorch computes them in Python.
	t := float64(a.t)
	k := adamCoeffs{
		b1: a.opts.Beta1, b2: a.opts.Beta2, eps: a.opts.Eps,
		bc2Sqrt:  math.Sqrt(1 - math.Pow(a.opts.Beta2, t)),
		stepSize: lr / (1 - math.Pow(a.opts.Beta1, t)),
		l2:       a.weightDecay,
		shrink:   1,
	}
	if a.decoupled {
		k.l2, k.shrink = 0, 1-lr*a.weightDecay
	}
	for i, w := range weights {
		switch wd := w.Data().(type) {
		case []float32:
			adamStep(wd, grads[i].Data().([]float32), a.m[i].([]float32), a.v[i].([]float32), k)
		case []float64:
			adamStep(wd, grads[i].Data().([]float64), a.m[i].([]float64), a.v[i].([]float64), k)
		}
	}
	return nil
}

type adamCoeffs struct {
	b1, b2, eps       float64
	bc2Sqrt, stepSize float64 // √(1−β2ᵗ) and η/(1−β1ᵗ)
	l2, shrink        float64 // L2 coefficient (Adam) and decoupled factor 1−η·λ (AdamW)
}

// adamStep updates one parameter in its own precision, as PyTorch's tensors do.
func adamStep[T float32 | float64](w, grad, m, v []T, k adamCoeffs) {
	b1, b2, ob1, ob2 := T(k.b1), T(k.b2), T(1-k.b1), T(1-k.b2)
	eps, bc2Sqrt, step, l2, shrink := T(k.eps), T(k.bc2Sqrt), T(k.stepSize), T(k.l2), T(k.shrink)
	decoupled := k.shrink != 1
	for j := range w {
		g := grad[j]
		if decoupled {
			w[j] *= shrink
		}
		if l2 != 0 {
			g += l2 * w[j]
		}
		m[j] = b1*m[j] + ob1*g
		v[j] = b2*v[j] + ob2*g*g
		denom := T(math.Sqrt(float64(v[j])))/bc2Sqrt + eps
		w[j] -= step * m[j] / denom
	}
}
