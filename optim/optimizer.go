package optim

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/lwca/lwca/registry"
	"gorgonia.org/tensor"
)

// Optimizer updates parameters in place from their gradients. Everything it carries from one
// step to the next is its State, which a checkpoint saves and SetState restores, so that a
// resumed run continues bit for bit.
type Optimizer interface {
	// Step updates every weight from its gradient with learning rate lr.
	Step(weights, grads []*tensor.Dense, lr float64) error
	// State returns the optimiser's state. The buffers are shared, not copied: they change
	// with the next Step.
	State() State
	// SetState replaces the state with one that State returned (for restoring a checkpoint).
	SetState(State) error
}

// State is an optimiser's state between steps.
type State struct {
	// Buffers[i] maps a buffer name ("velocity", "exp_avg") to parameter i's buffer: a
	// []float32 or []float64 with one value per weight, of the parameter's dtype. It is empty
	// while the parameter has no state (before the first step).
	Buffers []map[string]any
	// Scalars holds scalar state by name, such as Adam's step count.
	Scalars map[string]float64
}

// Factory is a registered optimiser.
type Factory struct {
	// Options returns a pointer to a fresh options struct holding the defaults. The config
	// layer decodes an optimiser's YAML keys into it strictly, by its yaml tags. If it
	// implements OptionChecker, the decoded values are checked with Check.
	Options func() any
	// New builds the optimiser from options (of the type Options returns) and the weight
	// decay λ common to all optimisers.
	New func(options any, weightDecay float64) (Optimizer, error)
}

// Optimizers holds the registered optimisers: lwca's sgd, adam and adamw, and any a program
// registers.
var Optimizers = registry.New[Factory]("optimiser")

// Register adds an optimiser under name. Call it from an init function; it panics on an empty
// or duplicate name.
//
//	func init() {
//		optim.Register("lion", optim.Factory{
//			Options: func() any { return &LionOptions{Beta1: 0.9, Beta2: 0.99} },
//			New:     newLion,
//		})
//	}
func Register(name string, f Factory) { Optimizers.Register(name, f) }

// OptionProblem is a defect of one option value: the option's yaml key, such as "beta2", and
// what is wrong and what was expected. It is the registry's, shared by every kind of entry.
type OptionProblem = registry.Problem

// OptionChecker is implemented by options structs that check their values' ranges; the config
// layer reports each problem at the option's position in the file.
type OptionChecker = registry.Checker

// HeavyBall is implemented by optimisers whose update is heavy-ball gradient descent with
// momentum μ (SGD), for the stability ratio η·λmax/(2(1+μ)) of the conditioning records: on
// a quadratic with curvature λmax that update is stable iff the ratio is below 1. Optimisers
// without such a threshold (Adam) do not implement it, or return ok false, and their records
// carry no stability ratio.
type HeavyBall interface {
	HeavyBall() (mu float64, ok bool)
}

// HeavyBallOf returns the heavy-ball momentum of opt, if it has one.
func HeavyBallOf(opt Optimizer) (mu float64, ok bool) {
	if h, is := opt.(HeavyBall); is {
		return h.HeavyBall()
	}
	return 0, false
}

// New builds the optimiser registered as name from its options (nil: the defaults), after
// checking them.
func New(name string, options any, weightDecay float64) (Optimizer, error) {
	f, err := Optimizers.Lookup(name)
	if err != nil {
		return nil, err
	}
	if options == nil {
		options = f.Options()
	}
	if c, ok := options.(OptionChecker); ok {
		if ps := c.Check(); len(ps) > 0 {
			msgs := make([]string, len(ps))
			for i, p := range ps {
				msgs[i] = p.String()
			}
			return nil, fmt.Errorf("optim: %s options: %s", name, strings.Join(msgs, "; "))
		}
	}
	if !(weightDecay >= 0) || math.IsInf(weightDecay, 1) {
		return nil, fmt.Errorf("optim: weight decay must be a finite number >= 0, got %v", weightDecay)
	}
	return f.New(options, weightDecay)
}

// optionsOf returns options as the *T its factory expects.
func optionsOf[T any](name string, options any) (*T, error) {
	o, ok := options.(*T)
	if !ok || o == nil {
		return nil, fmt.Errorf("optim: %s needs options of type %T, got %T", name, o, options)
	}
	return o, nil
}

// unitInterval appends a problem unless 0 ≤ v < 1, the range of a decay rate.
func unitInterval(ps []OptionProblem, field string, v float64) []OptionProblem {
	if !(v >= 0 && v < 1) {
		ps = append(ps, OptionProblem{Field: field, Msg: fmt.Sprintf("must be in [0, 1), got %v", v)})
	}
	return ps
}

// checkPairs checks that every weight has a gradient of its dtype and size.
func checkPairs(weights, grads []*tensor.Dense) error {
	if len(weights) != len(grads) {
		return fmt.Errorf("optim: %d weights but %d gradients", len(weights), len(grads))
	}
	for i, w := range weights {
		g := grads[i]
		if w.Size() != g.Size() || w.Dtype() != g.Dtype() {
			return fmt.Errorf("optim: parameter %d is %v %v, its gradient %v %v", i, w.Dtype(), w.Shape(), g.Dtype(), g.Shape())
		}
		switch w.Data().(type) {
		case []float32, []float64:
		default:
			return fmt.Errorf("optim: parameter %d: unsupported dtype %v", i, w.Dtype())
		}
	}
	return nil
}

// buffer returns *slot as a []T of n values, allocating zeros when it is nil. A restored
// buffer of another dtype or length is an error, not a panic in the middle of a step.
func buffer[T float32 | float64](slot *any, n int) ([]T, error) {
	if *slot == nil {
		b := make([]T, n)
		*slot = b
		return b, nil
	}
	b, ok := (*slot).([]T)
	if !ok || len(b) != n {
		return nil, fmt.Errorf("state buffer is %T of %d values, the parameter %T of %d", *slot, bufLen(*slot), b, n)
	}
	return b, nil
}

// allocate returns parameter w's buffer in *slot, allocating it as w's dtype and size.
func allocate(slot *any, w *tensor.Dense) error {
	var err error
	switch w.Data().(type) {
	case []float32:
		_, err = buffer[float32](slot, w.Size())
	case []float64:
		_, err = buffer[float64](slot, w.Size())
	}
	return err
}

func bufLen(b any) int {
	switch s := b.(type) {
	case []float32:
		return len(s)
	case []float64:
		return len(s)
	}
	return 0
}

// slots checks restored buffers: every parameter holds either all of the named buffers or
// none, each a []float32 or []float64 of one length, and nothing else. It returns, per name,
// the buffers of every parameter (nil where a parameter has none) and how many parameters
// hold them.
func slots(st State, names ...string) (map[string][]any, int, error) {
	out := map[string][]any{}
	for _, n := range names {
		out[n] = make([]any, len(st.Buffers))
	}
	held := 0
	for i, bufs := range st.Buffers {
		if len(bufs) == 0 {
			continue
		}
		if len(bufs) != len(names) {
			return nil, 0, fmt.Errorf("optim: parameter %d has state buffers %v, want %v", i, keys(bufs), names)
		}
		for _, n := range names {
			b, ok := bufs[n]
			if !ok {
				return nil, 0, fmt.Errorf("optim: parameter %d has state buffers %v, want %v", i, keys(bufs), names)
			}
			switch b.(type) {
			case []float32, []float64:
			default:
				return nil, 0, fmt.Errorf("optim: parameter %d: state buffer %s is %T, want []float32 or []float64", i, n, b)
			}
			if !sameKind(b, bufs[names[0]]) {
				return nil, 0, fmt.Errorf("optim: parameter %d: state buffers %s and %s differ in dtype or length", i, names[0], n)
			}
			out[n][i] = b
		}
		held++
	}
	return out, held, nil
}

// sameKind reports whether two buffers have one dtype and length.
func sameKind(a, b any) bool {
	switch a := a.(type) {
	case []float32:
		b, ok := b.([]float32)
		return ok && len(a) == len(b)
	case []float64:
		b, ok := b.([]float64)
		return ok && len(a) == len(b)
	}
	return false
}

func keys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// noScalars is the check of optimisers without scalar state.
func noScalars(st State) error {
	if len(st.Scalars) > 0 {
		return errors.New("optim: unexpected scalar state")
	}
	return nil
}
