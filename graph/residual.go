package graph

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/lwca/lwca/graph/internal/vec"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Residual adds a body and a shortcut applied to the same input: y = Body(x) + Shortcut(x).
// A nil Shortcut is the identity. The two branches must give the same shape; an activation
// after the sum (post-activation ResNets) is the next layer's business.
type Residual struct {
	Body     Layer
	Shortcut Layer
}

// Forward implements Layer.
func (l Residual) Forward(b *Builder, x *G.Node) (*G.Node, error) { return l.forward(b, x, false) }

// forward builds the block, with the sum rectified when relu is set: Sequential fuses a
// Residual and the ReLU after it (post-activation ResNets) into one pass over the data, with
// the same results, bit for bit, as the two layers apart.
func (l Residual) forward(b *Builder, x *G.Node, relu bool) (*G.Node, error) {
	if l.Body == nil {
		return nil, fmt.Errorf("residual: no body")
	}
	y, err := l.Body.Forward(b, x)
	if err != nil {
		return nil, err
	}
	s := x
	if l.Shortcut != nil {
		if s, err = l.Shortcut.Forward(b, x); err != nil {
			return nil, err
		}
	}
	if !y.Shape().Eq(s.Shape()) {
		return nil, fmt.Errorf("residual: body gives %v but shortcut gives %v", y.Shape(), s.Shape())
	}
	if relu {
		return G.ApplyOp(&addReluOp{opBase: opBase{"lwca.add+relu"}, dims: y.Dims()}, y, s)
	}
	return G.Add(y, s)
}

// addReluOp computes max(a + b, 0) element by element; its gradient, ∂L/∂y where the output
// y is positive, is the same for both inputs: one rectifier-gradient node.
type addReluOp struct {
	opBase
	dims int
	out  *tensor.Dense
}

func (op *addReluOp) Arity() int { return 2 }

func (op *addReluOp) Type() hm.Type {
	t := G.TensorType{Dims: op.dims, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t, t)
}

func (op *addReluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return firstShape(op.name, in)
}

func (op *addReluOp) Do(in ...G.Value) (G.Value, error) {
	a, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	b, err := values(in[1], op.name)
	if err != nil {
		return nil, err
	}
	if !a.Shape().Eq(b.Shape()) || a.Dtype() != b.Dtype() {
		return nil, fmt.Errorf("%s: adding %v %v to %v %v", op.name, b.Dtype(), b.Shape(), a.Dtype(), a.Shape())
	}
	out := reuse(&op.out, a.Dtype(), a.Shape()...)
	switch a.Dtype() {
	case tensor.Float32:
		addRelu(slice32(a), slice32(b), slice32(out))
	default:
		addRelu(slice64(a), slice64(b), slice64(out))
	}
	return out, nil
}

func addRelu[T float](a, b, y []T) {
	parallel(len(a), 1<<15, func(lo, hi int) { vec.AddRelu(y[lo:hi], a[lo:hi], b[lo:hi]) })
}

func (op *addReluOp) DiffWRT(int) []bool { return []bool{true, true} }

func (op *addReluOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := reluGrad(op.dims, output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d, d}, nil
}

// ShortcutA is the parameter-free shortcut of He et al.'s CIFAR ResNets ("option A"): it keeps
// every Stride-th row and column of (N, H, W, In), x[:, ::Stride, ::Stride, :], and pads the
// channels with zeros to Out, (Out−In)/2 before and the rest after, giving
// (N, ⌈H/Stride⌉, ⌈W/Stride⌉, Out).
type ShortcutA struct {
	Stride  int // 0 means 1
	In, Out int
}

// Forward implements Layer.
func (l ShortcutA) Forward(_ *Builder, x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if len(s) != 4 || s[3] != l.In {
		return nil, fmt.Errorf("shortcut: input shape %v, expected (N, H, W, %d) channels last", s, l.In)
	}
	if l.Out < l.In || l.Stride < 0 {
		return nil, fmt.Errorf("shortcut: cannot map %d channels to %d with stride %d", l.In, l.Out, l.Stride)
	}
	st := max(l.Stride, 1)
	if st == 1 && l.In == l.Out {
		return x, nil
	}
	g := shortcutGeom{n: s[0], h: s[1], w: s[2], cin: l.In, cout: l.Out, s: st, lo: (l.Out - l.In) / 2}
	g.oh, g.ow = (g.h+st-1)/st, (g.w+st-1)/st
	return G.ApplyOp(&shortcutOp{opBase: opBase{fmt.Sprintf("lwca.shortcutA(%d,%d→%d)", st, l.In, l.Out)}, g: g}, x)
}

type shortcutGeom struct {
	n, h, w, cin int
	cout, s, lo  int
	oh, ow       int
}

// shortcutOp is the forward (subsample and pad) or, with back set, its adjoint (pick the
// channels and scatter to the subsampled positions).
type shortcutOp struct {
	opBase
	g    shortcutGeom
	back bool
	out  *tensor.Dense
}

func (op *shortcutOp) Arity() int { return 1 }

func (op *shortcutOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: 4, Of: a}
	return hm.NewFnType(t, t)
}

func (op *shortcutOp) shape() tensor.Shape {
	g := op.g
	if op.back {
		return tensor.Shape{g.n, g.h, g.w, g.cin}
	}
	return tensor.Shape{g.n, g.oh, g.ow, g.cout}
}

func (op *shortcutOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape(), nil }

func (op *shortcutOp) Do(in ...G.Value) (G.Value, error) {
	x, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	out := reuse(&op.out, x.Dtype(), op.shape()...)
	switch x.Dtype() {
	case tensor.Float32:
		shortcut(op.g, op.back, slice32(x), slice32(out))
	default:
		shortcut(op.g, op.back, slice64(x), slice64(out))
	}
	return out, nil
}

func shortcut[T float](g shortcutGeom, back bool, in, out []T) {
	if back {
		clear(out)
	}
	parallel(g.n*g.oh, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			b, i := r/g.oh, r%g.oh
			for j := 0; j < g.ow; j++ {
				small := ((b*g.h+i*g.s)*g.w + j*g.s) * g.cin
				big := ((b*g.oh+i)*g.ow + j) * g.cout
				if back {
					copy(out[small:small+g.cin], in[big+g.lo:big+g.lo+g.cin])
					continue
				}
				clear(out[big : big+g.lo])
				copy(out[big+g.lo:big+g.lo+g.cin], in[small:small+g.cin])
				clear(out[big+g.lo+g.cin : big+g.cout])
			}
		}
	})
}

func (op *shortcutOp) DiffWRT(int) []bool { return []bool{true} }

func (op *shortcutOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.back {
		return nil, fmt.Errorf("%s: the shortcut's gradient has no gradient", op.name)
	}
	d, err := G.ApplyOp(&shortcutOp{opBase: opBase{op.name + ".grad"}, g: op.g, back: true}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}
