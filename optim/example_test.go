package optim_test

import (
	"fmt"

	"github.com/lwca/lwca/optim"
	"gorgonia.org/tensor"
)

// SignumOptions are the options of a program's own optimiser, signum (sign descent with
// momentum, Bernstein et al. 2018): m ← β·m + (1−β)·∇; w ← w − η·sign(m).
type SignumOptions struct {
	Beta float64 `yaml:"beta"`
}

func (o *SignumOptions) Check() []optim.OptionProblem {
	if !(o.Beta >= 0 && o.Beta < 1) {
		return []optim.OptionProblem{{Field: "beta", Msg: fmt.Sprintf("must be in [0, 1), got %v", o.Beta)}}
	}
	return nil
}

type signum struct {
	beta float64
	m    [][]float64 // float64 models only, to keep the example short
}

func (s *signum) Step(weights, grads []*tensor.Dense, lr float64) error {
	if s.m == nil {
		s.m = make([][]float64, len(weights))
	}
	for i, w := range weights {
		wd, ok1 := w.Data().([]float64)
		gd, ok2 := grads[i].Data().([]float64)
		if !ok1 || !ok2 || len(wd) != len(gd) {
			return fmt.Errorf("signum: parameter %d is not float64 or its gradient does not fit", i)
		}
		if s.m[i] == nil {
			s.m[i] = make([]float64, len(wd))
		}
		for j, g := range gd {
			s.m[i][j] = s.beta*s.m[i][j] + (1-s.beta)*g
			switch {
			case s.m[i][j] > 0:
				wd[j] -= lr
			case s.m[i][j] < 0:
				wd[j] += lr
			}
		}
	}
	return nil
}

// State and SetState hand the momentum buffers to checkpoints and back.
func (s *signum) State() optim.State {
	st := optim.State{Buffers: make([]map[string]any, len(s.m))}
	for i, m := range s.m {
		st.Buffers[i] = map[string]any{"momentum": m}
	}
	return st
}

func (s *signum) SetState(st optim.State) error {
	s.m = make([][]float64, len(st.Buffers))
	for i, b := range st.Buffers {
		m, ok := b["momentum"].([]float64)
		if len(b) != 1 || !ok {
			return fmt.Errorf("signum: parameter %d: want one float64 buffer, momentum", i)
		}
		s.m[i] = m
	}
	return nil
}

// A program registers its optimiser in init, as lwca registers sgd, adam and adamw.
func init() {
	optim.Register("signum", optim.Factory{
		Options: func() any { return &SignumOptions{Beta: 0.9} },
		New: func(options any, weightDecay float64) (optim.Optimizer, error) {
			if weightDecay != 0 {
				return nil, fmt.Errorf("signum: no weight decay")
			}
			return &signum{beta: options.(*SignumOptions).Beta}, nil
		},
	})
}

func ExampleRegister() {
	opt, err := optim.New("signum", nil, 0) // the default options
	if err != nil {
		panic(err)
	}
	w := tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{1, 2, 3}))
	g := tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{0.5, -4, 0}))
	if err := opt.Step([]*tensor.Dense{w}, []*tensor.Dense{g}, 0.1); err != nil {
		panic(err)
	}
	fmt.Println(w.Data())
	_, err = optim.New("signum", &SignumOptions{Beta: 1}, 0)
	fmt.Println(err)
	_, err = optim.New("sigmun", nil, 0)
	fmt.Println(err)
	// Output:
	// [0.9 2.1 3]
	// optim: signum options: beta: must be in [0, 1), got 1
	// unknown optimiser "sigmun" (did you mean signum?); registered: adam, adamw, sgd, signum
}
