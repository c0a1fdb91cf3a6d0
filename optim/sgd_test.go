package optim

import (
	"math"
	"testing"

	"gorgonia.org/tensor"
)

// On the quadratic f(w) = ½·a·w², every variant of the update follows its own recurrence,
// written out here by hand.
func TestSGDMatchesHandRecurrence(t *testing.T) {
	const a, lr = 3.0, 0.05
	for _, cfg := range []SGDConfig{{}, {Momentum: 0.9}, {Momentum: 0.9, Nesterov: true}, {Momentum: 0.5, WeightDecay: 0.1}, {WeightDecay: 0.01}} {
		w := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{2}))
		g := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{0}))
		opt := NewSGD(cfg)
		hw, hv := 2.0, 0.0
		for k := 0; k < 20; k++ {
			g.Data().([]float64)[0] = a * w.Data().([]float64)[0]
			if err := opt.Step([]*tensor.Dense{w}, []*tensor.Dense{g}, lr); err != nil {
				t.Fatal(err)
			}
			grad := a*hw + cfg.WeightDecay*hw
			hv = cfg.Momentum*hv + grad
			d := hv
			if cfg.Nesterov {
				d = grad + cfg.Momentum*hv
			}
			if cfg.Momentum == 0 {
				d = grad
			}
			hw -= lr * d
			if got := w.Data().([]float64)[0]; math.Abs(got-hw) > 1e-12 {
				t.Fatalf("%+v step %d: w=%v, want %v", cfg, k, got, hw)
			}
		}
	}
}

// Plain gradient descent on a quadratic is stable iff η < 2/λ (method.md): just below the
// threshold it converges, just above it diverges.
func TestSGDStabilityThreshold(t *testing.T) {
	const lambda = 4.0
	for _, c := range []struct {
		mu     float64
		factor float64
		stable bool
	}{{0, 0.95, true}, {0, 1.05, false}, {0.9, 0.95, true}, {0.9, 1.05, false}} {
		lr := c.factor * 2 * (1 + c.mu) / lambda
		w := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1}))
		g := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{0}))
		opt := NewSGD(SGDConfig{Momentum: c.mu})
		for k := 0; k < 2000; k++ {
			g.Data().([]float32)[0] = lambda * w.Data().([]float32)[0]
			_ = opt.Step([]*tensor.Dense{w}, []*tensor.Dense{g}, lr)
		}
		got := math.Abs(float64(w.Data().([]float32)[0]))
		if c.stable != (got < 1e-3) {
			t.Errorf("μ=%v η=%v·threshold: |w| after 2000 steps = %v, stable=%v expected", c.mu, c.factor, got, c.stable)
		}
	}
}

// Nesterov's update is stable below the lower threshold η·λ < 2(1+μ)/(1+2μ) that its HeavyBall
// documentation states.
func TestNesterovStabilityThreshold(t *testing.T) {
	const lambda, mu = 4.0, 0.9
	for _, c := range []struct {
		factor float64
		stable bool
	}{{0.95, true}, {1.05, false}} {
		lr := c.factor * 2 * (1 + mu) / (1 + 2*mu) / lambda
		w := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{1}))
		g := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{0}))
		opt := NewSGD(SGDConfig{Momentum: mu, Nesterov: true})
		for k := 0; k < 2000; k++ {
			g.Data().([]float64)[0] = lambda * w.Data().([]float64)[0]
			_ = opt.Step([]*tensor.Dense{w}, []*tensor.Dense{g}, lr)
		}
		if got := math.Abs(w.Data().([]float64)[0]); c.stable != (got < 1e-3) {
			t.Errorf("η=%v·threshold: |w| after 2000 steps = %v, stable=%v expected", c.factor, got, c.stable)
		}
	}
}

func TestScheduleMultistepAndWarmup(t *testing.T) {
	s := Schedule{Base: 0.1, Milestones: []int{80, 120}, Gamma: 0.1, WarmupSteps: 400, WarmupLR: 0.01}
	for _, c := range []struct {
		step, epoch int
		want        float64
	}{{0, 0, 0.01}, {399, 1, 0.01}, {400, 1, 0.1}, {10000, 79, 0.1}, {10001, 80, 0.01}, {20000, 120, 0.001}, {30000, 159, 0.001}} {
		if got := s.At(c.step, c.epoch); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("At(%d,%d)=%v, want %v", c.step, c.epoch, got, c.want)
		}
	}
	if err := (Schedule{Base: 0.1, Milestones: []int{5, 3}}).Validate(); err == nil {
		t.Error("decreasing milestones accepted")
	}
}
