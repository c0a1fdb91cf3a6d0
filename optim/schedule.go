package optim

import (
	"fmt"
	"sort"
)

// Schedule gives the learning rate of a step. Epochs count from 0; milestones are epoch numbers
// at whose start the rate is multiplied by Gamma (PyTorch's MultiStepLR). During the first
// WarmupSteps steps the rate is WarmupLR (He et al.'s ResNet-110 warm-up).
type Schedule struct {
	Base        float64
	Milestones  []int
	Gamma       float64
	WarmupSteps int
	WarmupLR    float64
}

// Constant is a schedule with a fixed rate.
func Constant(lr float64) Schedule { return Schedule{Base: lr, Gamma: 1} }

// Validate checks the schedule's fields.
func (s Schedule) Validate() error {
	if !(s.Base > 0) {
		return fmt.Errorf("optim: learning rate %v must be positive", s.Base)
	}
	if !sort.IntsAreSorted(s.Milestones) {
		return fmt.Errorf("optim: milestones %v must be increasing", s.Milestones)
	}
	return nil
}

// At returns the learning rate at a global step that falls in epoch.
func (s Schedule) At(step, epoch int) float64 {
	if step < s.WarmupSteps {
		return s.WarmupLR
	}
	lr := s.Base
	for _, m := range s.Milestones {
		if epoch >= m {
			lr *= s.Gamma
		}
	}
	return lr
}
