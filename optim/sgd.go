// Package optim holds lwca's optimiser and learning-rate schedules, written over the parameter
// tensors directly (Gorgonia's own Momentum solver decays the velocity, not the weights).
//
//	opt := optim.NewSGD(optim.SGDConfig{Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4})
//	lr := sched.At(step, epoch)
//	opt.Step(weights, grads, lr)
package optim

import (
	"fmt"

	"gorgonia.org/tensor"
)

// SGDConfig holds the hyper-parameters of stochastic gradient descent.
type SGDConfig struct {
	Momentum    float64 // heavy-ball coefficient μ; 0 disables momentum
	Nesterov    bool    // Nesterov's look-ahead form (needs Momentum > 0)
	WeightDecay float64 // L2 coefficient λ, added to the gradient as λ·w
}

// SGD is stochastic gradient descent with PyTorch's update rule:
//
//	g ← ∇ + λ·w;  v ← μ·v + g;  d ← g + μ·v (Nesterov) or v;  w ← w − η·d
type SGD struct {
	cfg      SGDConfig
	velocity []any // per parameter: []float32 or []float64, allocated on the first step
}

// NewSGD returns an optimiser with the given configuration.
func NewSGD(cfg SGDConfig) *SGD { return &SGD{cfg: cfg} }

// Config returns the optimiser's configuration.
func (s *SGD) Config() SGDConfig { return s.cfg }

// Velocity returns the momentum buffer of parameter i (nil before the first step).
func (s *SGD) Velocity(i int) any {
	if i < len(s.velocity) {
		return s.velocity[i]
	}
	return nil
}

// SetVelocity replaces the momentum buffers (for restoring a saved state).
func (s *SGD) SetVelocity(v []any) { s.velocity = v }

// Step updates every weight in place from its gradient with learning rate lr.
func (s *SGD) Step(weights, grads []*tensor.Dense, lr float64) error {
	if len(weights) != len(grads) {
		return fmt.Errorf("optim: %d weights but %d gradients", len(weights), len(grads))
	}
	if s.velocity == nil {
		s.velocity = make([]any, len(weights))
	}
	for i, w := range weights {
		g := grads[i]
		if w.Size() != g.Size() || w.Dtype() != g.Dtype() {
			return fmt.Errorf("optim: parameter %d is %v %v, its gradient %v %v", i, w.Dtype(), w.Shape(), g.Dtype(), g.Shape())
		}
		switch wd := w.Data().(type) {
		case []float32:
			if s.velocity[i] == nil {
				s.velocity[i] = make([]float32, len(wd))
			}
			step(s.cfg, wd, g.Data().([]float32), s.velocity[i].([]float32), float32(lr))
		case []float64:
			if s.velocity[i] == nil {
				s.velocity[i] = make([]float64, len(wd))
			}
			step(s.cfg, wd, g.Data().([]float64), s.velocity[i].([]float64), lr)
		default:
			return fmt.Errorf("optim: unsupported dtype %v", w.Dtype())
		}
	}
	return nil
}

func step[T float32 | float64](cfg SGDConfig, w, grad, v []T, lr T) {
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
