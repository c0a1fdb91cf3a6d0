package graph

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// MaxPool2d takes the maximum of each Kernel×Kernel window of channels-last input (N, H, W, C),
// windows Stride apart (Stride 0 means Kernel) without padding: OH = (H − Kernel)/Stride + 1.
// The gradient goes to the first maximum of each window.
type MaxPool2d struct{ Kernel, Stride int }

// AvgPool2d averages each Kernel×Kernel window of (N, H, W, C), windows Stride apart (Stride 0
// means Kernel) without padding.
type AvgPool2d struct{ Kernel, Stride int }

// GlobalAvgPool averages (N, H, W, C) over its H·W positions, giving (N, C). Gorgonia's
// GlobalAveragePool2D has no gradient and expects NCHW.
type GlobalAvgPool struct{}

type poolKind int

const (
	maxPool poolKind = iota
	avgPool
)

var poolNames = [...]string{"maxpool", "avgpool"}

// poolGeom is the shape arithmetic of a windowed pooling. A global pool is a window covering
// the whole image.
type poolGeom struct {
	n, h, w, c int
	k, s       int // window (k×k, or h×w when global) and stride
	kh, kw     int
	oh, ow     int
}

func newPoolGeom(what string, s tensor.Shape, k, stride int) (poolGeom, error) {
	if len(s) != 4 {
		return poolGeom{}, fmt.Errorf("%s: input shape %v, expected (N, H, W, C) channels last", what, s)
	}
	if stride == 0 {
		stride = k
	}
	g := poolGeom{n: s[0], h: s[1], w: s[2], c: s[3], k: k, s: stride, kh: k, kw: k}
	if k < 1 || stride < 1 || k > g.h || k > g.w {
		return poolGeom{}, fmt.Errorf("%s: window %d stride %d does not fit a %d×%d input", what, k, stride, g.h, g.w)
	}
	g.oh, g.ow = (g.h-k)/stride+1, (g.w-k)/stride+1
	return g, nil
}

// Forward implements Layer.
func (l MaxPool2d) Forward(_ *Builder, x *G.Node) (*G.Node, error) {
	g, err := newPoolGeom("maxpool", x.Shape(), l.Kernel, l.Stride)
	if err != nil {
		return nil, err
	}
	return G.ApplyOp(newPoolOp(maxPool, g, 4), x)
}

// Forward implements Layer.
func (l AvgPool2d) Forward(_ *Builder, x *G.Node) (*G.Node, error) {
	g, err := newPoolGeom("avgpool", x.Shape(), l.Kernel, l.Stride)
	if err != nil {
		return nil, err
	}
	return G.ApplyOp(newPoolOp(avgPool, g, 4), x)
}

// Forward implements Layer.
func (GlobalAvgPool) Forward(_ *Builder, x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if len(s) != 4 {
		return nil, fmt.Errorf("global average pool: input shape %v, expected (N, H, W, C) channels last", s)
	}
	g := poolGeom{n: s[0], h: s[1], w: s[2], c: s[3], kh: s[1], kw: s[2], s: 1, oh: 1, ow: 1}
	return G.ApplyOp(newPoolOp(avgPool, g, 2), x)
}

// poolOp is a max or average pooling; outDims 2 drops the 1×1 spatial axes of a global pool.
type poolOp struct {
	opBase
	kind    poolKind
	g       poolGeom
	outDims int
	out     *tensor.Dense
}

func newPoolOp(kind poolKind, g poolGeom, outDims int) *poolOp {
	name := fmt.Sprintf("lwca.%s(%dx%d/%d,%v)", poolNames[kind], g.kh, g.kw, g.s, outDims)
	return &poolOp{opBase: opBase{name}, kind: kind, g: g, outDims: outDims}
}

func (op *poolOp) Arity() int { return 1 }

func (op *poolOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 4, Of: a}, G.TensorType{Dims: op.outDims, Of: a})
}

func (op *poolOp) shape() tensor.Shape {
	g := op.g
	if op.outDims == 2 {
		return tensor.Shape{g.n, g.c}
	}
	return tensor.Shape{g.n, g.oh, g.ow, g.c}
}

func (op *poolOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape(), nil }

func (op *poolOp) Do(in ...G.Value) (G.Value, error) {
	x, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	if x.Size() != op.g.n*op.g.h*op.g.w*op.g.c {
		return nil, fmt.Errorf("%s: input %v does not match the layer", op.name, x.Shape())
	}
	out := reuse(&op.out, x.Dtype(), op.shape()...)
	switch x.Dtype() {
	case tensor.Float32:
		poolForward(op.kind, op.g, slice32(x), slice32(out))
	default:
		poolForward(op.kind, op.g, slice64(x), slice64(out))
	}
	return out, nil
}

// poolForward: the output pixel (b, i, j) reduces the window of rows i·s … i·s+kh−1 and
// columns j·s … j·s+kw−1 of image b, channel by channel.
func poolForward[T float](kind poolKind, g poolGeom, x, y []T) {
	c := g.c
	inv := 1 / float64(g.kh*g.kw)
	parallel(g.n*g.oh, 4, func(lo, hi int) {
		acc := make([]float64, c)
		for r := lo; r < hi; r++ {
			b, i := r/g.oh, r%g.oh
			for j := 0; j < g.ow; j++ {
				d := y[((b*g.oh+i)*g.ow+j)*c : ((b*g.oh+i)*g.ow+j+1)*c]
				for u := 0; u < g.kh; u++ {
					base := (b*g.h+i*g.s+u)*g.w + j*g.s
					for v := 0; v < g.kw; v++ {
						src := x[(base+v)*c : (base+v+1)*c]
						switch {
						case kind == avgPool && u == 0 && v == 0:
							for t, s := range src {
								acc[t] = float64(s)
							}
						case kind == avgPool:
							for t, s := range src {
								acc[t] += float64(s)
							}
						case u == 0 && v == 0:
							copy(d, src)
						default:
							for t, s := range src {
								if s > d[t] {
									d[t] = s
								}
							}
						}
					}
				}
				if kind == avgPool {
					for t, a := range acc {
						d[t] = T(a * inv)
					}
				}
			}
		}
	})
}

func (op *poolOp) DiffWRT(int) []bool { return []bool{true} }

func (op *poolOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&poolGradOp{opBase: opBase{op.name + ".grad"}, fwd: op}, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}

// poolGradOp computes ∂L/∂x from (x, ∂L/∂y). For max pooling it finds each window's maximum
// again rather than keeping indices from the forward pass: the op stays stateless.
type poolGradOp struct {
	opBase
	fwd *poolOp
	out *tensor.Dense
}

func (op *poolGradOp) Arity() int { return 2 }

func (op *poolGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t4 := G.TensorType{Dims: 4, Of: a}
	return hm.NewFnType(t4, G.TensorType{Dims: op.fwd.outDims, Of: a}, t4)
}

func (op *poolGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	g := op.fwd.g
	return tensor.Shape{g.n, g.h, g.w, g.c}, nil
}

func (op *poolGradOp) Do(in ...G.Value) (G.Value, error) {
	x, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	dy, err := values(in[1], op.name)
	if err != nil {
		return nil, err
	}
	g := op.fwd.g
	out := reuse(&op.out, x.Dtype(), g.n, g.h, g.w, g.c)
	switch x.Dtype() {
	case tensor.Float32:
		poolBackward(op.fwd.kind, g, slice32(x), slice32(dy), slice32(out))
	default:
		poolBackward(op.fwd.kind, g, slice64(x), slice64(dy), slice64(out))
	}
	return out, nil
}

// poolBackward scatters each output gradient over its window. Windows of different images
// never overlap, so images are split between workers.
func poolBackward[T float](kind poolKind, g poolGeom, x, dy, dx []T) {
	c, img := g.c, g.h*g.w*g.c
	inv := T(1 / float64(g.kh*g.kw))
	parallel(g.n, 2, func(lo, hi int) {
		clear(dx[lo*img : hi*img])
		for b := lo; b < hi; b++ {
			for i := 0; i < g.oh; i++ {
				for j := 0; j < g.ow; j++ {
					o := ((b*g.oh+i)*g.ow + j) * c
					for t := 0; t < c; t++ {
						gy := dy[o+t]
						if kind == avgPool {
							for u := 0; u < g.kh; u++ {
								base := (b*g.h+i*g.s+u)*g.w + j*g.s
								for v := 0; v < g.kw; v++ {
									dx[(base+v)*c+t] += gy * inv
								}
							}
							continue
						}
						best := -1
						for u := 0; u < g.kh; u++ {
							base := (b*g.h+i*g.s+u)*g.w + j*g.s
							for v := 0; v < g.kw; v++ {
								if at := (base+v)*c + t; best < 0 || x[at] > x[best] {
									best = at
								}
							}
						}
						dx[best] += gy
					}
				}
			}
		}
	})
}
