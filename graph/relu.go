package graph

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/lwca/lwca/graph/internal/vec"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Rectify returns max(x, 0) element by element. It is one op whose gradient is one pass
// (∂L/∂x = ∂L/∂y where y > 0), both writing into buffers kept from run to run; Gorgonia's
// Rectify builds a comparison and a product, each allocating per run, and their gradients.
func Rectify(x *G.Node) (*G.Node, error) {
	if x.Dims() < 1 {
		return nil, fmt.Errorf("rectify: scalar input")
	}
	return G.ApplyOp(&reluOp{elementwise: elementwise{opBase: opBase{"lwca.relu"}, dims: x.Dims()}}, x)
}

// elementwise is the bookkeeping shared by an element-wise op and its gradient op: one input of
// any shape, or with back set two (the forward value and ∂L/∂y), giving that shape.
type elementwise struct {
	opBase
	dims int
	back bool
}

func (op *elementwise) Arity() int {
	if op.back {
		return 2
	}
	return 1
}

func (op *elementwise) Type() hm.Type {
	t := G.TensorType{Dims: op.dims, Of: hm.TypeVariable('a')}
	if op.back {
		return hm.NewFnType(t, t, t)
	}
	return hm.NewFnType(t, t)
}

func (op *elementwise) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return firstShape(op.name, in)
}

// inputs returns the op's input and, for the gradient op, ∂L/∂y (nil otherwise), checked to
// match it.
func (op *elementwise) inputs(in []G.Value) (x, dy *tensor.Dense, err error) {
	if x, err = values(in[0], op.name); err != nil || !op.back {
		return x, nil, err
	}
	if dy, err = values(in[1], op.name); err != nil {
		return nil, nil, err
	}
	if dy.Size() != x.Size() || dy.Dtype() != x.Dtype() {
		return nil, nil, fmt.Errorf("%s: gradient %v %v for %v %v", op.name, dy.Dtype(), dy.Shape(), x.Dtype(), x.Shape())
	}
	return x, dy, nil
}

// reluOp computes max(x, 0) or, with back set, ∂L/∂x from (y, ∂L/∂y).
type reluOp struct {
	elementwise
	out *tensor.Dense
}

// firstShape is the shape of an element-wise op's output: its first input's.
func firstShape(name string, in []G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("%s: expected a tensor shape, got %T", name, in[0])
	}
	return s.Clone(), nil
}

func (op *reluOp) Do(in ...G.Value) (G.Value, error) {
	x, dy, err := op.inputs(in)
	if err != nil {
		return nil, err
	}
	out := reuse(&op.out, x.Dtype(), x.Shape()...)
	switch x.Dtype() {
	case tensor.Float32:
		if op.back {
			reluBackward(slice32(x), slice32(dy), slice32(out))
		} else {
			reluForward(slice32(x), slice32(out))
		}
	default:
		if op.back {
			reluBackward(slice64(x), slice64(dy), slice64(out))
		} else {
			reluForward(slice64(x), slice64(out))
		}
	}
	return out, nil
}

func reluForward[T float](x, y []T) {
	parallel(len(x), 1<<15, func(lo, hi int) { vec.Relu(y[lo:hi], x[lo:hi]) })
}

// reluBackward passes dy where the output y is positive (vec.ReluGrad).
func reluBackward[T float](y, dy, dx []T) {
	parallel(len(y), 1<<15, func(lo, hi int) { vec.ReluGrad(dx[lo:hi], y[lo:hi], dy[lo:hi]) })
}

func (op *reluOp) DiffWRT(int) []bool { return []bool{true} }

func (op *reluOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.back {
		return nil, fmt.Errorf("%s: no second derivative", op.name)
	}
	d, err := reluGrad(op.dims, output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

// reluGrad is the node ∂L/∂x of a rectified output y (dims axes) with gradient grad.
func reluGrad(dims int, y, grad *G.Node) (*G.Node, error) {
	return G.ApplyOp(&reluOp{elementwise: elementwise{opBase: opBase{"lwca.relu.grad"}, dims: dims, back: true}}, y, grad)
}
