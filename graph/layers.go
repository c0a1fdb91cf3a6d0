package graph

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// Sequential applies its layers in order.
type Sequential []Layer

// reluFuser is a layer that can build itself with the ReLU after it fused in (BatchNorm,
// Residual): forward(b, x, false) is its Forward.
type reluFuser interface {
	forward(b *Builder, x *G.Node, relu bool) (*G.Node, error)
}

// Forward implements Layer. A BatchNorm or a Residual directly followed by ReLU becomes one
// fused op (same results, fewer passes over the activations).
func (s Sequential) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	var err error
	for i := 0; i < len(s); i++ {
		if err := b.Store.Err(); err != nil {
			return nil, err
		}
		l := s[i]
		if f, ok := l.(reluFuser); ok && i+1 < len(s) && s[i+1] == Layer(ReLU) {
			if x, err = f.forward(b, x, true); err != nil {
				return nil, fmt.Errorf("layer %d (%T, with the ReLU after it): %w", i, l, err)
			}
			i++
			continue
		}
		if x, err = l.Forward(b, x); err != nil {
			return nil, fmt.Errorf("layer %d (%T): %w", i, l, err)
		}
	}
	return x, nil
}

// Linear is the weighted layer h = x·W (+ b) on a rows×In input. W is stored In×Out, so the
// product is the explicit 2-D form whose input x and output gradient ∂L/∂h the hooks capture.
type Linear struct {
	Name    string
	In, Out int
	Bias    bool        // add a bias vector; default true with NewLinear
	Init    Initializer // weight initialiser; default HeNormal with NewLinear
}

// NewLinear returns a biased, He-initialised linear layer.
func NewLinear(name string, in, out int) *Linear {
	return &Linear{Name: name, In: in, Out: out, Bias: true, Init: HeNormal}
}

// Forward implements Layer.
func (l *Linear) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	if s := x.Shape(); len(s) != 2 || s[1] != l.In {
		return nil, fmt.Errorf("%s: input shape %v, expected (rows, %d)", l.Name, s, l.In)
	}
	init := l.Init
	if init == nil {
		init = HeNormal
	}
	hp, err := b.HookPoint(l.Name)
	if err != nil {
		return nil, err
	}
	w, err := b.Param(l.Name, "weight", Weight, []int{l.In, l.Out}, l.In, l.Out, init)
	if err != nil {
		return nil, err
	}
	if x, err = b.TapInput(hp, x); err != nil {
		return nil, err
	}
	h, err := G.Mul(x, w)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.Name, err)
	}
	if l.Bias {
		bias, err := b.Param(l.Name, "bias", Bias, []int{l.Out}, l.In, l.Out, Constant(0))
		if err != nil {
			return nil, err
		}
		if h, err = G.BroadcastAdd(h, bias, nil, []byte{0}); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Name, err)
		}
	}
	return b.TapOutput(hp, h)
}

// Activation is an element-wise nonlinearity.
type Activation string

// The activations lwca knows. LeakyReLU, which has a parameter, is a type of its own.
const (
	ReLU     Activation = "relu"
	Tanh     Activation = "tanh"
	Sigmoid  Activation = "sigmoid"
	Identity Activation = "identity"
	// GELU is the exact x·Φ(x), Φ the standard normal distribution function (PyTorch's
	// default), not the tanh approximation.
	GELU Activation = "gelu"
)

// Valid reports whether a names a known activation.
func (a Activation) Valid() error {
	switch a {
	case ReLU, Tanh, Sigmoid, Identity, GELU:
		return nil
	}
	return fmt.Errorf("unknown activation %q (expected relu, tanh, sigmoid, gelu or identity)", string(a))
}

// Forward implements Layer.
func (a Activation) Forward(_ *Builder, x *G.Node) (*G.Node, error) {
	switch a {
	case ReLU:
		return Rectify(x)
	case Tanh:
		return G.Tanh(x)
	case Sigmoid:
		return G.Sigmoid(x)
	case GELU:
		return pointwise(pointGELU, 0, x)
	case Identity:
		return x, nil
	}
	return nil, a.Valid()
}
