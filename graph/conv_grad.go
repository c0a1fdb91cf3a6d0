package graph

import (
	"maps"
	"slices"
	"sync"

	"github.com/chewxy/hm"
	"github.com/lwca/lwca/graph/internal/convkernel"
	"github.com/lwca/lwca/hooks"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func (op *convOp) DiffWRT(int) []bool {
	d := []bool{op.st.inputGrad, true}
	if op.st.bias {
		d = append(d, true)
	}
	return d
}

func (op *convOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	var err error
	if op.st.inputGrad {
		dx := &convDataGradOp{opBase: opBase{uniqueName("conv.dx", op.st.layer)}, st: op.st}
		if out[0], err = G.ApplyOp(dx, grad, inputs[1]); err != nil {
			return nil, err
		}
	}
	dw := &convFilterGradOp{opBase: opBase{uniqueName("conv.dweight", op.st.layer)}, st: op.st}
	if out[1], err = G.ApplyOp(dw, inputs[0], grad); err != nil {
		return nil, err
	}
	if op.st.bias {
		if out[2], err = G.ApplyOp(&channelSumOp{opBase: opBase{uniqueName("conv.dbias", op.st.layer)}, dims: 4}, grad); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// convDataGradOp computes ∂L/∂x from (∂L/∂h, W). For stride-1 convolutions that is itself a
// convolution of ∂L/∂h (see convGeom.adjoint), whose product has KH·KW·Out terms; otherwise it
// is col2im(∂L/∂h · Wᵀ), whose product has only Out terms and whose scatter adds.
type convDataGradOp struct {
	opBase
	st     *convState
	out    *tensor.Dense
	wt     any                // Wᵀ, reused
	wa     any                // the adjoint's weights, reused
	packed convkernel.Weights // the adjoint's weights for the direct kernel, reused
}

func (op *convDataGradOp) Arity() int { return 2 }

func (op *convDataGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t4, t2 := G.TensorType{Dims: 4, Of: a}, G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t4, t2, t4)
}

func (op *convDataGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	g := op.st.g
	return tensor.Shape{g.n, g.h, g.w, g.c}, nil
}

func (op *convDataGradOp) Do(in ...G.Value) (G.Value, error) {
	dh, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	w, err := values(in[1], op.name)
	if err != nil {
		return nil, err
	}
	g := op.st.g
	out := reuse(&op.out, dh.Dtype(), g.n, g.h, g.w, g.c)
	switch dh.Dtype() {
	case tensor.Float32:
		convDataGrad(op, slice32(dh), slice32(w), slice32(out))
	default:
		convDataGrad(op, slice64(dh), slice64(w), slice64(out))
	}
	return out, nil
}

// useAdjoint selects the adjoint-convolution route for ∂L/∂x where it applies; tests turn it
// off to compare the two routes. It is read without synchronisation: the tests that flip it
// must not run in parallel with others (no test calls t.Parallel; .ci/run checks).
var useAdjoint = true

func convDataGrad[T float](op *convDataGradOp, dh, w, dx []T) {
	g := op.st.g
	k, co := g.k(), g.cout
	if a, ok := g.adjoint(); ok && useAdjoint {
		wa := adjointWeights(&op.wa, w, g)
		if !directConv(a, dh, wa, dx, &op.packed) {
			convolve(a, dh, dx, patchProduct(a, wa, &op.wt))
		}
		return
	}
	// Wᵀ is tiny; multiplying by it untransposed is much faster in gonum than a transposed product.
	wt := transposed(&op.wt, w, k, co)
	per := g.oh * g.ow
	if g.direct() {
		byImages(g.n, 1, func(b0, b1 int) {
			gemm(false, false, (b1-b0)*per, k, co, 1, dh[b0*per*co:], co, wt, k, 0, dx[b0*per*k:], k)
		})
		return
	}
	var z T
	bi := g.blockImages(sizeOf(z))
	byImages(g.n, bi, func(b0, b1 int) {
		p := getScratch[T](min(bi, b1-b0) * per * k)
		for c0 := b0; c0 < b1; c0 += bi {
			c1 := min(c0+bi, b1)
			gemm(false, false, (c1-c0)*per, k, co, 1, dh[c0*per*co:], co, wt, k, 0, p, k)
			col2im(g, p, dx, c0, c1)
		}
		putScratch(p)
	})
}

// adjointWeights returns the weights of g.adjoint(), (KH·KW·Out)×In: W with its kernel
// flipped in both axes and its channel axes swapped, in the buffer kept in *slot.
func adjointWeights[T float](slot *any, w []T, g convGeom) []T {
	wa, _ := (*slot).([]T)
	if len(wa) != len(w) {
		wa = make([]T, len(w))
		*slot = wa
	}
	for u := 0; u < g.kh; u++ {
		for v := 0; v < g.kw; v++ {
			src := ((g.kh-1-u)*g.kw + (g.kw - 1 - v)) * g.c // first row of the flipped offset
			dst := (u*g.kw + v) * g.cout
			for ci := 0; ci < g.c; ci++ {
				for o := 0; o < g.cout; o++ {
					wa[(dst+o)*g.c+ci] = w[(src+ci)*g.cout+o]
				}
			}
		}
	}
	return wa
}

// convFilterGradOp computes ∂L/∂W = Pᵀ·∂L/∂h from (x, ∂L/∂h), rebuilding P block by block,
// and records the layer's output gradients when its hooks capture.
type convFilterGradOp struct {
	opBase
	st  *convState
	out *tensor.Dense
}

func (op *convFilterGradOp) Arity() int { return 2 }

func (op *convFilterGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t4, t2 := G.TensorType{Dims: 4, Of: a}, G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t4, t4, t2)
}

func (op *convFilterGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.st.g.k(), op.st.g.cout}, nil
}

func (op *convFilterGradOp) Do(in ...G.Value) (G.Value, error) {
	x, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	dh, err := values(in[1], op.name)
	if err != nil {
		return nil, err
	}
	g := op.st.g
	out := reuse(&op.out, x.Dtype(), g.k(), g.cout)
	switch x.Dtype() {
	case tensor.Float32:
		convFilterGrad(op.st, slice32(x), slice32(dh), slice32(out))
	default:
		convFilterGrad(op.st, slice64(x), slice64(dh), slice64(out))
	}
	return out, nil
}

func convFilterGrad[T float](st *convState, x, dh, dw []T) {
	g := st.g
	rows, k, co := g.rows(), g.k(), g.cout
	hooks.CaptureOutputGrad(st.point, dh, rows, co)
	patches, _ := st.patches.([]T)
	per := g.oh * g.ow
	var z T
	bi := g.blockImages(sizeOf(z))
	grain := bi
	if g.direct() || patches != nil {
		grain = 1
	}
	// Each worker sums its images' products into its own partial gradient. With gonum's
	// kernels it computes dWᵀ = ∂L/∂hᵀ·P (Out×k) rather than Pᵀ·∂L/∂h, for the same reason as
	// the forward product.
	flip := pureGo[T]()
	acc := func(p, d []T, m int, beta T, into []T) {
		if flip {
			gemm(true, false, co, k, m, 1, d, co, p, k, beta, into, k)
		} else {
			gemm(true, false, k, co, m, 1, p, k, d, co, beta, into, co)
		}
	}
	kg, kernel := directGrad(g, x)
	kernel = kernel && patches == nil
	if kernel {
		grain, flip = 1, false
	}
	var mu sync.Mutex
	partials := map[int][]T{} // by first image: summed in image order, however scheduled
	byImages(g.n, grain, func(b0, b1 int) {
		part := getScratch[T](len(dw))
		switch {
		case kernel:
			convkernel.WeightGrad(kg, any(x).([]float32), any(dh).([]float32), any(part).([]float32), b0, b1)
		case g.direct():
			acc(x[b0*per*k:], dh[b0*per*co:], (b1-b0)*per, 0, part)
		case patches != nil:
			acc(patches[b0*per*k:], dh[b0*per*co:], (b1-b0)*per, 0, part)
		default:
			p := getScratch[T](min(bi, b1-b0) * per * k)
			for c0 := b0; c0 < b1; c0 += bi {
				c1 := min(c0+bi, b1)
				im2col(g, x, p, c0, c1)
				beta := T(1)
				if c0 == b0 {
					beta = 0
				}
				acc(p, dh[c0*per*co:], (c1-c0)*per, beta, part)
			}
			putScratch(p)
		}
		mu.Lock()
		partials[b0] = part
		mu.Unlock()
	})
	clear(dw)
	for _, b0 := range slices.Sorted(maps.Keys(partials)) {
		part := partials[b0]
		if flip {
			for r := 0; r < k; r++ {
				for c := 0; c < co; c++ {
					dw[r*co+c] += part[c*k+r]
				}
			}
		} else {
			addTo(dw, part)
		}
		putScratch(part)
	}
	st.patches = nil
}

// directGrad reports whether convkernel.WeightGrad computes g's weight gradient, and in what
// geometry: float32, the AVX-512 kernels, any stride, but not a 1×1 stride-1 convolution
// (whose input is already its patch matrix). Measured at batch 128, one thread, against patch
// blocks and OpenBLAS (BenchmarkConvWeightGradient, three runs, the first version of the
// kernel): 8.5 vs 23–28 ms on 32×32×16→16, 6.1 vs 8.0–12.7 ms on 16×16×32→32, 6.4–7.5 vs
// 9.9–10.2 ms on 8×8×64→64.
func directGrad[T float](g convGeom, x []T) (convkernel.Geometry, bool) {
	kg, same := g.kernel()
	_, f32 := any(x).([]float32)
	return kg, same && f32 && useDirect && !g.direct() && kg.GradSupported()
}

// channelSumOp sums its input over every axis but the last: the gradient of a per-channel bias.
type channelSumOp struct {
	opBase
	dims int
	out  *tensor.Dense
}

func (op *channelSumOp) Arity() int { return 1 }

func (op *channelSumOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: op.dims, Of: a}, G.TensorType{Dims: 1, Of: a})
}

func (op *channelSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	return tensor.Shape{s[len(s)-1]}, nil
}

func (op *channelSumOp) Do(in ...G.Value) (G.Value, error) {
	t, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	s := t.Shape()
	c := s[len(s)-1]
	out := reuse(&op.out, t.Dtype(), c)
	switch t.Dtype() {
	case tensor.Float32:
		sumColumns(slice32(t), slice32(out))
	default:
		sumColumns(slice64(t), slice64(out))
	}
	return out, nil
}

// sumColumns sets out to the column sums of the row-major matrix m, accumulating in float64.
func sumColumns[T float](m, out []T) {
	c := len(out)
	acc := make([]float64, c)
	for r := 0; r < len(m)/c; r++ {
		for j, v := range m[r*c : (r+1)*c] {
			acc[j] += float64(v)
		}
	}
	for j, v := range acc {
		out[j] = T(v)
	}
}
