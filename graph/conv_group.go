package graph

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/lwca/lwca/hooks"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// A grouped convolution (Conv2d.Groups > 1) is Groups independent convolutions side by side:
// group k (0-based) maps input channels [k·In/G, (k+1)·In/G) to output channels
// [k·Out/G, (k+1)·Out/G). Its op gathers each group's channels into a contiguous tensor and
// runs the ordinary convolution's code on it (forward, both gradients, captures), then
// scatters the result back; the ungrouped op is left as it is.

// groupConvOp is the forward op of a grouped convolution; sub[k] is group k as an ungrouped
// convolution (its state holds the group's geometry and hook point).
type groupConvOp struct {
	opBase
	g    convGeom // the whole layer: c = In, cout = Out
	bias bool
	sub  []*convOp
	out  *tensor.Dense
}

// newGroupConvOp returns the op of layer's convolution g split into len(names) groups, group
// k named names[k] and capturing into points[k].
func newGroupConvOp(layer string, g convGeom, bias bool, mode ConvMode, names []string, points []*hooks.Point, inputGrad bool) *groupConvOp {
	sg := g
	sg.c, sg.cout = g.c/len(names), g.cout/len(names)
	op := &groupConvOp{opBase: opBase{uniqueName("conv", layer)}, g: g, bias: bias}
	for k, name := range names {
		st := &convState{layer: name, g: sg, mode: mode, point: points[k], inputGrad: inputGrad}
		op.sub = append(op.sub, &convOp{opBase: opBase{uniqueName("conv", name)}, st: st})
	}
	return op
}

func (op *groupConvOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}

func (op *groupConvOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t4, t2 := G.TensorType{Dims: 4, Of: a}, G.TensorType{Dims: 2, Of: a}
	if op.bias {
		return hm.NewFnType(t4, t2, G.TensorType{Dims: 1, Of: a}, t4)
	}
	return hm.NewFnType(t4, t2, t4)
}

func (op *groupConvOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	g := op.g
	return tensor.Shape{g.n, g.oh, g.ow, g.cout}, nil
}

func (op *groupConvOp) Do(in ...G.Value) (G.Value, error) {
	x, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	w, err := values(in[1], op.name)
	if err != nil {
		return nil, err
	}
	g, sg := op.g, op.sub[0].st.g
	if x.Size() != g.pixels()*g.c || w.Size() != sg.k()*g.cout {
		return nil, fmt.Errorf("%s: input %v and weight %v do not match the layer", op.name, x.Shape(), w.Shape())
	}
	var bias *tensor.Dense
	if op.bias {
		if bias, err = values(in[2], op.name); err != nil {
			return nil, err
		}
	}
	out := reuse(&op.out, x.Dtype(), g.n, g.oh, g.ow, g.cout)
	switch x.Dtype() {
	case tensor.Float32:
		var b []float32
		if bias != nil {
			b = slice32(bias)
		}
		groupForward(op, slice32(x), slice32(w), b, slice32(out))
	default:
		var b []float64
		if bias != nil {
			b = slice64(bias)
		}
		groupForward(op, slice64(x), slice64(w), b, slice64(out))
	}
	return out, nil
}

func groupForward[T float](op *groupConvOp, x, w, bias, out []T) {
	g, sg := op.g, op.sub[0].st.g
	xk := getScratch[T](sg.pixels() * sg.c)
	wk := getScratch[T](sg.k() * sg.cout)
	hk := getScratch[T](sg.rows() * sg.cout)
	for k, sub := range op.sub {
		cols(xk, x, g.c, k*sg.c, sg.c)
		cols(wk, w, g.cout, k*sg.cout, sg.cout)
		convForward(sub, xk, wk, nil, hk)
		setCols(out, hk, g.cout, k*sg.cout, sg.cout)
	}
	putScratch(xk)
	putScratch(wk)
	putScratch(hk)
	if bias != nil {
		addRows(out, bias)
	}
}

// cols sets dst to the n columns from off of the row-major matrix src with width columns.
func cols[T float](dst, src []T, width, off, n int) {
	rows := len(src) / width
	parallel(rows, 1<<12, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(dst[r*n:(r+1)*n], src[r*width+off:r*width+off+n])
		}
	})
}

// setCols writes src (n columns) into columns off … off+n−1 of dst, which has width columns.
func setCols[T float](dst, src []T, width, off, n int) {
	rows := len(dst) / width
	parallel(rows, 1<<12, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(dst[r*width+off:r*width+off+n], src[r*n:(r+1)*n])
		}
	})
}

func (op *groupConvOp) DiffWRT(int) []bool {
	d := []bool{op.sub[0].st.inputGrad, true}
	if op.bias {
		d = append(d, true)
	}
	return d
}

func (op *groupConvOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	var err error
	layer := op.sub[0].st.layer
	if op.sub[0].st.inputGrad {
		dx := &groupConvGradOp{opBase: opBase{op.name + ".dx"}, fwd: op, data: true}
		for _, s := range op.sub {
			dx.dsub = append(dx.dsub, &convDataGradOp{opBase: opBase{s.name + ".dx"}, st: s.st})
		}
		if out[0], err = G.ApplyOp(dx, grad, inputs[1]); err != nil {
			return nil, err
		}
	}
	dw := &groupConvGradOp{opBase: opBase{op.name + ".dweight"}, fwd: op}
	if out[1], err = G.ApplyOp(dw, inputs[0], grad); err != nil {
		return nil, err
	}
	if op.bias {
		if out[2], err = G.ApplyOp(&channelSumOp{opBase: opBase{uniqueName("conv.dbias", layer)}, dims: 4}, grad); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// groupConvGradOp computes ∂L/∂x from (∂L/∂h, W) when data is set, and otherwise ∂L/∂W from
// (x, ∂L/∂h), recording each group's output gradients when its hook point captures.
type groupConvGradOp struct {
	opBase
	fwd  *groupConvOp
	data bool
	dsub []*convDataGradOp // per group, for ∂L/∂x
	out  *tensor.Dense
}

func (op *groupConvGradOp) Arity() int { return 2 }

func (op *groupConvGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t4, t2 := G.TensorType{Dims: 4, Of: a}, G.TensorType{Dims: 2, Of: a}
	if op.data {
		return hm.NewFnType(t4, t2, t4)
	}
	return hm.NewFnType(t4, t4, t2)
}

func (op *groupConvGradOp) shape() []int {
	g := op.fwd.g
	if op.data {
		return []int{g.n, g.h, g.w, g.c}
	}
	return []int{op.fwd.sub[0].st.g.k(), g.cout}
}

func (op *groupConvGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(op.shape()), nil
}

func (op *groupConvGradOp) Do(in ...G.Value) (G.Value, error) {
	a, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	b, err := values(in[1], op.name)
	if err != nil {
		return nil, err
	}
	out := reuse(&op.out, a.Dtype(), op.shape()...)
	switch a.Dtype() {
	case tensor.Float32:
		groupGrad(op, slice32(a), slice32(b), slice32(out))
	default:
		groupGrad(op, slice64(a), slice64(b), slice64(out))
	}
	return out, nil
}

// groupGrad computes the gradient of op from its inputs a and b: (∂L/∂h, W) into ∂L/∂x, or
// (x, ∂L/∂h) into ∂L/∂W, one group at a time.
func groupGrad[T float](op *groupConvGradOp, a, b, out []T) {
	g, sg := op.fwd.g, op.fwd.sub[0].st.g
	dh := getScratch[T](sg.rows() * sg.cout)
	if op.data {
		wk := getScratch[T](sg.k() * sg.cout)
		dx := getScratch[T](sg.pixels() * sg.c)
		for k, sub := range op.dsub {
			cols(dh, a, g.cout, k*sg.cout, sg.cout)
			cols(wk, b, g.cout, k*sg.cout, sg.cout)
			convDataGrad(sub, dh, wk, dx)
			setCols(out, dx, g.c, k*sg.c, sg.c)
		}
		putScratch(wk)
		putScratch(dx)
	} else {
		xk := getScratch[T](sg.pixels() * sg.c)
		dw := getScratch[T](sg.k() * sg.cout)
		for k, sub := range op.fwd.sub {
			cols(xk, a, g.c, k*sg.c, sg.c)
			cols(dh, b, g.cout, k*sg.cout, sg.cout)
			convFilterGrad(sub.st, xk, dh, dw)
			setCols(out, dw, g.cout, k*sg.cout, sg.cout)
		}
		putScratch(xk)
		putScratch(dw)
	}
	putScratch(dh)
}
