// Package optim holds lwca's optimisers and learning-rate schedules, written over the
// parameter tensors directly (Gorgonia's own Momentum solver decays the velocity, not the
// weights). Optimisers are registered by name, lwca's own (sgd, adam, adamw) exactly as a
// program's would be, and built through the registry:
//
//	opt, err := optim.New("adam", &optim.AdamOptions{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, 1e-4)
//	lr := sched.At(step, epoch)
//	err = opt.Step(weights, grads, lr)
package optim

import (
	"fmt"

	"gorgonia.org/tensor"
)

func init() {
	Register("sgd", Factory{
		Options: func() any { return &SGDOptions{Momentum: 0.9} },
		New: func(options any, weightDecay float64) (Optimizer, error) {
			o, err := optionsOf[SGDOptions]("sgd", options)
			if err != nil {
				return nil, err
			}
			return NewSGD(SGDConfig{Momentum: o.Momentum, Nesterov: o.Nesterov, WeightDecay: weightDecay}), nil
		},
	})
}

// SGDOptions are the options of the registered optimiser sgd.
type SGDOptions struct {
	Momentum float64 `yaml:"momentum"` // heavy-ball coefficient μ in [0, 1); default 0.9
	Nesterov bool    `yaml:"nesterov"` // Nesterov's look-ahead form; needs momentum > 0
}

// Check checks the options' ranges.
func (o *SGDOptions) Check() []OptionProblem {
	ps := unitInterval(nil, "momentum", o.Momentum)
	if o.Nesterov && !(o.Momentum > 0) {
		ps = append(ps, OptionProblem{Field: "nesterov", Msg: "requires momentum > 0"})
	}
	return ps
}

// SGDConfig holds the hyper-parameters of stochastic gradient descent.
type SGDConfig struct {
	Momentum    float64 // heavy-ball coefficient μ; 0 disables momentum
	Nesterov    bool    // Nesterov's look-ahead form (needs Momentum > 0)
	WeightDecay float64 // L2 coefficient λ, added to the gradient as λ·w
}

// SGD is stochastic gradient descent with PyTorch's update rule (torch.optim.SGD):
//
//	g ← ∇ + λ·w;  v ← μ·v + g;  d ← g + μ·v (Nesterov) or v;  w ← w − η·d
//
// Its state is one buffer per parameter, "velocity" (v), when μ > 0.
type SGD struct {
	cfg      SGDConfig
	velocity []any // per parameter: []float32 or []float64, allocated on the first step
}

// NewSGD returns an optimiser with the given configuration.
func NewSGD(cfg SGDConfig) *SGD { return &SGD{cfg: cfg} }

// Config returns the optimiser's configuration.
func (s *SGD) Config() SGDConfig { return s.cfg }

// HeavyBall returns the momentum μ: SGD is heavy-ball gradient descent (μ = 0: plain). With
// Nesterov it returns the same μ, although Nesterov's update on a quadratic is stable only
// for η·λ < 2(1+μ)/(1+2μ), a lower threshold than heavy ball's 2(1+μ).
func (s *SGD) HeavyBall() (float64, bool) { return s.cfg.Momentum, true }

// State returns the velocity buffers.
func (s *SGD) State() State {
	st := State{Buffers: make([]map[string]any, len(s.velocity))}
	for i, v := range s.velocity {
		if v != nil {
			st.Buffers[i] = map[string]any{"velocity": v}
		}
	}
	return st
}

// SetState restores velocity buffers; a parameter without one starts from zero.
func (s *SGD) SetState(st State) error {
	if err := noScalars(st); err != nil {
		return err
	}
	bufs, _, err := slots(st, "velocity")
	if err != nil {
		return err
	}
	s.velocity = bufs["velocity"]
	return nil
}

// Step updates every weight in place from its gradient with learning rate lr.
func (s *SGD) Step(weights, grads []*tensor.Dense, lr float64) error {
	if err := checkPairs(weights, grads); err != nil {
		return err
	}
	if s.velocity == nil {
		s.velocity = make([]any, len(weights))
	}
	if len(s.velocity) != len(weights) {
		return fmt.Errorf("optim: state for %d parameters, stepping %d", len(s.velocity), len(weights))
	}
	if s.cfg.Momentum != 0 {
		for i, w := range weights {
			if err := allocate(&s.velocity[i], w); err != nil {
				return fmt.Errorf("optim: parameter %d: %w", i, err)
			}
		}
	}
	for i, w := range weights {
		switch wd := w.Data().(type) {
		case []float32:
			v, _ := s.velocity[i].([]float32)
			sgdStep(s.cfg, wd, grads[i].Data().([]float32), v, float32(lr))
		case []float64:
			v, _ := s.velocity[i].([]float64)
			sgdStep(s.cfg, wd, grads[i].Data().([]float64), v, lr)
		}
	}
	return nil
}

func sgdStep[T float32 | float64](cfg SGDConfig, w, grad, v []T, lr T) {
	mu, wd := T(cfg.Momentum), T(cfg.WeightDecay)
	for j := range w {
		g := grad[j] + wd*w[j]
		d := g
		if cfg.Momentum != 0 {
			v[j] = mu*v[j] + g
			d = v[j]
			if cfg.Nesterov {
				d = g + mu*v[j]
			}
		}
		w[j] -= lr * d
	}
}
