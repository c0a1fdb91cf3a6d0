package graph

import (
	"fmt"
	"math"
	"strconv"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// LeakyReLU is x for x > 0 and Slope·x otherwise, element by element. Slope 0 means PyTorch's
// default 0.01 (ReLU is the slope-0 rectifier).
type LeakyReLU struct{ Slope float64 }

// DefaultLeakySlope is the slope LeakyReLU uses when its Slope is 0, PyTorch's default.
const DefaultLeakySlope = 0.01

// Forward implements Layer.
func (l LeakyReLU) Forward(_ *Builder, x *G.Node) (*G.Node, error) {
	s := l.Slope
	if s == 0 {
		s = DefaultLeakySlope
	}
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return nil, fmt.Errorf("leaky relu: slope %v", l.Slope)
	}
	return pointwise(pointLeaky, s, x)
}

// gelu is the exact GELU, x·Φ(x) = x·(1 + erf(x/√2))/2 (PyTorch's default, not its tanh
// approximation), and its derivative Φ(x) + x·φ(x).
func gelu(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

func geluGrad(x float64) float64 {
	return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
}

type pointKind int

const (
	pointLeaky pointKind = iota
	pointGELU
)

var pointNames = [...]string{"leakyrelu", "gelu"}

// pointwise applies the element-wise function kind (with parameter a, the leaky slope) to x.
func pointwise(kind pointKind, a float64, x *G.Node) (*G.Node, error) {
	if x.Dims() < 1 {
		return nil, fmt.Errorf("%s: scalar input", pointNames[kind])
	}
	name := "lwca." + pointNames[kind]
	if kind == pointLeaky {
		name += "(" + strconv.FormatFloat(a, 'g', -1, 64) + ")"
	}
	return G.ApplyOp(&pointOp{elementwise: elementwise{opBase: opBase{name}, dims: x.Dims()}, kind: kind, a: a}, x)
}

// pointOp computes f(x) or, with back set, ∂L/∂x = f'(x)·∂L/∂y from (x, ∂L/∂y), in float64
// per element whatever the dtype.
type pointOp struct {
	elementwise
	kind pointKind
	a    float64
	out  *tensor.Dense
}

func (op *pointOp) Do(in ...G.Value) (G.Value, error) {
	x, dy, err := op.inputs(in)
	if err != nil {
		return nil, err
	}
	out := reuse(&op.out, x.Dtype(), x.Shape()...)
	switch x.Dtype() {
	case tensor.Float32:
		var d []float32
		if dy != nil {
			d = slice32(dy)
		}
		pointApply(op, slice32(x), d, slice32(out))
	default:
		var d []float64
		if dy != nil {
			d = slice64(dy)
		}
		pointApply(op, slice64(x), d, slice64(out))
	}
	return out, nil
}

// pointApply sets out to f(x), or to f'(x)·dy when dy is given.
func pointApply[T float](op *pointOp, x, dy, out []T) {
	f := op.fn()
	parallel(len(x), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if dy == nil {
				out[i] = T(f(float64(x[i])))
			} else {
				out[i] = T(f(float64(x[i])) * float64(dy[i]))
			}
		}
	})
}

// fn is the function the op applies per element: f, or f' for the gradient op.
func (op *pointOp) fn() func(float64) float64 {
	a := op.a
	switch {
	case op.kind == pointLeaky && op.back:
		return func(x float64) float64 {
			if x > 0 {
				return 1
			}
			return a
		}
	case op.kind == pointLeaky:
		return func(x float64) float64 {
			if x > 0 {
				return x
			}
			return a * x
		}
	case op.back:
		return geluGrad
	}
	return gelu
}

func (op *pointOp) DiffWRT(int) []bool { return []bool{true} }

func (op *pointOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.back {
		return nil, fmt.Errorf("%s: no second derivative", op.name)
	}
	back := &pointOp{elementwise: elementwise{opBase: opBase{op.name + ".grad"}, dims: op.dims, back: true}, kind: op.kind, a: op.a}
	d, err := G.ApplyOp(back, inputs[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}
