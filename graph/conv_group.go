package graph

import (
	"maps"
	"slices"
	"sync"

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
	g, sg := op.g, op.sub[0].st.g
	x, w, bias, err := convOperands(op.name, in, g.pixels()*g.c, sg.k()*g.cout, op.bias)
	if err != nil {
		return nil, err
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

// useDepthwise selects the direct depthwise loops where they apply; tests turn it off to
// compare routes.
var useDepthwise = true

// depthwise reports whether the direct depthwise loops compute this run's forward pass and
// weight gradient: every group has one input channel and no group captures (captures need
// each group's patch matrix, which the per-group route builds).
func (op *groupConvOp) depthwise() bool {
	if !useDepthwise || op.sub[0].st.g.c != 1 {
		return false
	}
	for _, s := range op.sub {
		if s.st.point.Capturing() {
			return false
		}
	}
	return true
}

func groupForward[T float](op *groupConvOp, x, w, bias, out []T) {
	g, sg := op.g, op.sub[0].st.g
	if op.depthwise() {
		for _, s := range op.sub {
			s.st.patches = nil
		}
		depthwiseForward(g, x, w, out)
		if bias != nil {
			addRows(out, bias)
		}
		return
	}
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
	switch {
	case op.data && useDepthwise && sg.c == 1:
		depthwiseDataGrad(g, a, b, out)
		return
	case !op.data && op.fwd.depthwise():
		depthwiseFilterGrad(g, a, b, out)
		return
	}
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

// The direct depthwise loops: with one input channel per group, output channel o (group
// o/m, m = Out/In the depth multiplier) sees input channel o/m only, so each kernel offset
// contributes channel vector times weight row, element by element, with no patch matrix.
// Work is split by images; the weight gradient sums per-block partials in image order.

// depthwiseTaps calls f(pix, in, uv) for every output pixel pix of images [b0, b1), every
// kernel offset uv = u·KW + v that falls inside the image, and the input pixel in it reads.
func depthwiseTaps(g convGeom, b0, b1 int, f func(pix, in, uv int)) {
	for b := b0; b < b1; b++ {
		for i := 0; i < g.oh; i++ {
			for j := 0; j < g.ow; j++ {
				pix := (b*g.oh+i)*g.ow + j
				for u := 0; u < g.kh; u++ {
					ih := i*g.s - g.p + u
					if ih < 0 || ih >= g.h {
						continue
					}
					for v := 0; v < g.kw; v++ {
						if iw := j*g.s - g.p + v; iw >= 0 && iw < g.w {
							f(pix, (b*g.h+ih)*g.w+iw, u*g.kw+v)
						}
					}
				}
			}
		}
	}
}

// depthwiseForward sets out[pix, o] = Σ_uv x[in, o/m]·w[uv, o].
func depthwiseForward[T float](g convGeom, x, w, out []T) {
	c, co, m := g.c, g.cout, g.cout/g.c
	per := g.oh * g.ow
	byImages(g.n, 1, func(b0, b1 int) {
		clear(out[b0*per*co : b1*per*co])
		depthwiseTaps(g, b0, b1, func(pix, in, uv int) {
			o, xs, ws := out[pix*co:(pix+1)*co], x[in*c:(in+1)*c], w[uv*co:(uv+1)*co]
			if m == 1 {
				for k, xv := range xs {
					o[k] += xv * ws[k]
				}
				return
			}
			for k := range o {
				o[k] += xs[k/m] * ws[k]
			}
		})
	})
}

// depthwiseDataGrad sets dx[in, ch] = Σ over the taps reading in of Σ_{o/m = ch} dh[pix, o]·w[uv, o].
func depthwiseDataGrad[T float](g convGeom, dh, w, dx []T) {
	c, co, m := g.c, g.cout, g.cout/g.c
	img := g.h * g.w * c
	byImages(g.n, 1, func(b0, b1 int) {
		clear(dx[b0*img : b1*img])
		depthwiseTaps(g, b0, b1, func(pix, in, uv int) {
			d, hs, ws := dx[in*c:(in+1)*c], dh[pix*co:(pix+1)*co], w[uv*co:(uv+1)*co]
			if m == 1 {
				for k, hv := range hs {
					d[k] += hv * ws[k]
				}
				return
			}
			for k, hv := range hs {
				d[k/m] += hv * ws[k]
			}
		})
	})
}

// depthwiseFilterGrad sets dw[uv, o] = Σ over the taps at offset uv of x[in, o/m]·dh[pix, o].
func depthwiseFilterGrad[T float](g convGeom, x, dh, dw []T) {
	c, co, m := g.c, g.cout, g.cout/g.c
	var mu sync.Mutex
	partials := map[int][]T{}
	byImages(g.n, 1, func(b0, b1 int) {
		part := getScratch[T](len(dw))
		clear(part)
		depthwiseTaps(g, b0, b1, func(pix, in, uv int) {
			d, xs, hs := part[uv*co:(uv+1)*co], x[in*c:(in+1)*c], dh[pix*co:(pix+1)*co]
			if m == 1 {
				for k, xv := range xs {
					d[k] += xv * hs[k]
				}
				return
			}
			for k, hv := range hs {
				d[k] += xs[k/m] * hv
			}
		})
		mu.Lock()
		partials[b0] = part
		mu.Unlock()
	})
	clear(dw)
	for _, b0 := range slices.Sorted(maps.Keys(partials)) {
		addTo(dw, partials[b0])
		putScratch(partials[b0])
	}
}
