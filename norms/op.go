package norms

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// geometry says which values are normalised together. The input, read row-major, is units
// blocks of positions×c values; within a unit, channels [g·c/groups, (g+1)·c/groups) of every
// position form set g. Each set gets its own mean and variance.
type geometry struct {
	units, positions, c, groups int
	eps                         float64
}

// each calls f for every set, with the indices of its values in input order.
func (g geometry) each(f func(idx []int)) {
	cg := g.c / g.groups
	idx := make([]int, 0, g.positions*cg)
	for u := 0; u < g.units; u++ {
		for grp := 0; grp < g.groups; grp++ {
			idx = idx[:0]
			for p := 0; p < g.positions; p++ {
				base := (u*g.positions+p)*g.c + grp*cg
				for k := 0; k < cg; k++ {
					idx = append(idx, base+k)
				}
			}
			f(idx)
		}
	}
}

// stats returns the mean and 1/√(variance + ε) of x over the set idx.
func stats(x []float64, idx []int, eps float64) (mean, inv float64) {
	for _, i := range idx {
		mean += x[i]
	}
	mean /= float64(len(idx))
	v := 0.0
	for _, i := range idx {
		d := x[i] - mean
		v += d * d
	}
	return mean, 1 / math.Sqrt(v/float64(len(idx))+eps)
}

// normOp computes y = γ·(x − mean)/√(var + ε) + β from (x, γ, β).
type normOp struct {
	name string
	geo  geometry
	dims int
}

// Gorgonia's Op interface, first the bookkeeping: three inputs, the output has x's type and
// shape, a fresh output every time, and a hash that is unique per layer (Gorgonia merges nodes
// whose ops hash alike).

func (op *normOp) Arity() int { return 3 }

func (op *normOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t, v := G.TensorType{Dims: op.dims, Of: a}, G.TensorType{Dims: 1, Of: a}
	return hm.NewFnType(t, v, v, t)
}

func (op *normOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("%s: expected a tensor shape, got %T", op.name, in[0])
	}
	return s.Clone(), nil
}

func (op *normOp) ReturnsPtr() bool      { return false }
func (op *normOp) CallsExtern() bool     { return false }
func (op *normOp) OverwritesInput() int  { return -1 }
func (op *normOp) String() string        { return op.name }
func (op *normOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.name) }

func (op *normOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// Do is the forward computation. It works in float64 whatever the graph's dtype.
func (op *normOp) Do(in ...G.Value) (G.Value, error) {
	v, err := float64s(op.name, in...)
	if err != nil {
		return nil, err
	}
	x, gamma, beta := v[0], v[1], v[2]
	y := make([]float64, len(x))
	c := op.geo.c
	op.geo.each(func(idx []int) {
		mean, inv := stats(x, idx, op.geo.eps)
		for _, i := range idx {
			y[i] = (x[i]-mean)*inv*gamma[i%c] + beta[i%c]
		}
	})
	return denseLike(in[0], y), nil
}

// The symbolic derivative: Gorgonia asks for one gradient node per input, given the node
// holding ∂L/∂y. Each is a normGradOp reading (x, γ, ∂L/∂y); they recompute the statistics
// from x instead of sharing state with the forward op.

func (op *normOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (op *normOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, 3)
	for which := range out {
		gop := &normGradOp{fwd: op, which: which}
		var err error
		if out[which], err = G.ApplyOp(gop, inputs[0], inputs[1], grad); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// normGradOp computes ∂L/∂x (which 0), ∂L/∂γ (1) or ∂L/∂β (2). With x̂ = (x − mean)·inv and
// ĝ = ∂L/∂y·γ on a set of m values,
//
//	∂L/∂x = inv · (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)),  ∂L/∂γ_c = Σ ∂L/∂y·x̂,  ∂L/∂β_c = Σ ∂L/∂y,
//
// the last two summed over every value of channel c.
type normGradOp struct {
	fwd   *normOp
	which int
}

var gradNames = [3]string{"dx", "dscale", "dshift"}

func (op *normGradOp) Arity() int { return 3 }

func (op *normGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t, v := G.TensorType{Dims: op.fwd.dims, Of: a}, G.TensorType{Dims: 1, Of: a}
	if op.which == 0 {
		return hm.NewFnType(t, v, t, t)
	}
	return hm.NewFnType(t, v, t, v)
}

func (op *normGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if op.which > 0 {
		return tensor.Shape{op.fwd.geo.c}, nil
	}
	s, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("%s: expected a tensor shape, got %T", op, in[0])
	}
	return s.Clone(), nil
}

func (op *normGradOp) ReturnsPtr() bool      { return false }
func (op *normGradOp) CallsExtern() bool     { return false }
func (op *normGradOp) OverwritesInput() int  { return -1 }
func (op *normGradOp) String() string        { return op.fwd.name + "." + gradNames[op.which] }
func (op *normGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }

func (op *normGradOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *normGradOp) Do(in ...G.Value) (G.Value, error) {
	v, err := float64s(op.String(), in...)
	if err != nil {
		return nil, err
	}
	x, gamma, dy := v[0], v[1], v[2]
	geo := op.fwd.geo
	c := geo.c
	var out []float64
	if op.which == 0 {
		out = make([]float64, len(x))
	} else {
		out = make([]float64, c)
	}
	geo.each(func(idx []int) {
		mean, inv := stats(x, idx, geo.eps)
		switch op.which {
		case 1:
			for _, i := range idx {
				out[i%c] += dy[i] * (x[i] - mean) * inv
			}
		case 2:
			for _, i := range idx {
				out[i%c] += dy[i]
			}
		default:
			m := float64(len(idx))
			sumG, sumGX := 0.0, 0.0
			for _, i := range idx {
				g := dy[i] * gamma[i%c]
				sumG += g
				sumGX += g * (x[i] - mean) * inv
			}
			for _, i := range idx {
				xh := (x[i] - mean) * inv
				out[i] = inv * (dy[i]*gamma[i%c] - sumG/m - xh*sumGX/m)
			}
		}
	})
	if op.which == 0 {
		return denseLike(in[0], out), nil
	}
	return denseLike(in[1], out), nil
}

// float64s returns the values of dense float32 or float64 tensors as float64 slices.
func float64s(what string, in ...G.Value) ([][]float64, error) {
	out := make([][]float64, len(in))
	for k, v := range in {
		t, ok := v.(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("%s: input %d is a %T, expected a dense tensor", what, k, v)
		}
		switch d := t.Data().(type) {
		case []float64:
			out[k] = d
		case []float32:
			out[k] = make([]float64, len(d))
			for i, f := range d {
				out[k][i] = float64(f)
			}
		default:
			return nil, fmt.Errorf("%s: input %d has dtype %v, expected float32 or float64", what, k, t.Dtype())
		}
	}
	return out, nil
}

// denseLike returns vals as a tensor of like's dtype, shaped like like when the sizes agree
// and as a vector otherwise.
func denseLike(like G.Value, vals []float64) *tensor.Dense {
	shape := like.Shape().Clone()
	if shape.TotalSize() != len(vals) {
		shape = tensor.Shape{len(vals)}
	}
	if like.Dtype() == tensor.Float32 {
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(vals))
}
