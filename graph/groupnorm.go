package graph

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GroupNorm normalises channels-last input (N, …, C) per sample and group of C/Groups
// consecutive channels, over all the sample's positions (Wu & He 2018):
// y = γ·(x − μ)/√(σ² + ε) + β with μ, σ² the mean and (biased) variance of the group's values
// and γ (role Scale, starts at 1), β (role Shift, starts at 0) per channel. Groups = 1
// normalises each sample as a whole, Groups = C is instance normalisation. It does not depend
// on the batch, so training and evaluation graphs compute the same function and there are no
// running statistics.
//
// Package norms holds the same layers written against the exported API only, as the worked
// example of docs/extending.md; these are the built-in ones (typed, buffers reused, parallel
// over samples), and the tests check that both agree.
type GroupNorm struct {
	Name   string
	C      int     // channels, the last axis
	Groups int     // number of channel groups; must divide C
	Eps    float64 // added to the variance; default 1e-5
}

// NewGroupNorm returns a GroupNorm with PyTorch's default ε; the arguments are in the order
// of PyTorch's nn.GroupNorm(num_groups, num_channels).
func NewGroupNorm(name string, groups, c int) *GroupNorm {
	return &GroupNorm{Name: name, C: c, Groups: groups, Eps: 1e-5}
}

// LayerNorm normalises the C channels of every position of channels-last input (N, …, C) on
// their own: each row of a feature matrix (N, C) (the usual per-sample LayerNorm), each pixel
// of an image (N, H, W, C) (the per-pixel LayerNorm of channels-last ConvNets). Scale γ and
// shift β are per channel, as in GroupNorm; no running statistics.
type LayerNorm struct {
	Name string
	C    int     // channels, the last axis
	Eps  float64 // added to the variance; default 1e-5
}

// NewLayerNorm returns a LayerNorm with PyTorch's default ε.
func NewLayerNorm(name string, c int) *LayerNorm { return &LayerNorm{Name: name, C: c, Eps: 1e-5} }

// Forward implements Layer.
func (l *GroupNorm) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if err := checkChannelsLast(l.Name, s, l.C); err != nil {
		return nil, err
	}
	if l.Groups < 1 || l.C%l.Groups != 0 {
		return nil, fmt.Errorf("%s: %d groups do not divide %d channels", l.Name, l.Groups, l.C)
	}
	// One unit per sample: its positions are everything between the batch and channel axes.
	g := setGeom{units: s[0], positions: s.TotalSize() / (s[0] * l.C), c: l.C, groups: l.Groups, eps: l.Eps}
	return applyNorm(b, l.Name, "groupnorm", g, x)
}

// Forward implements Layer.
func (l *LayerNorm) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if err := checkChannelsLast(l.Name, s, l.C); err != nil {
		return nil, err
	}
	g := setGeom{units: s.TotalSize() / l.C, positions: 1, c: l.C, groups: 1, eps: l.Eps}
	return applyNorm(b, l.Name, "layernorm", g, x)
}

func checkChannelsLast(name string, s tensor.Shape, c int) error {
	if c < 1 || len(s) < 2 || s[len(s)-1] != c {
		return fmt.Errorf("%s: input shape %v, expected (N, …, %d) with channels last", name, s, c)
	}
	return nil
}

func applyNorm(b *Builder, name, kind string, g setGeom, x *G.Node) (*G.Node, error) {
	if g.eps == 0 {
		g.eps = 1e-5
	}
	if g.eps < 0 {
		return nil, fmt.Errorf("%s: negative ε %v", name, g.eps)
	}
	gamma, err := b.Param(name, "scale", Scale, []int{g.c}, g.c, g.c, Constant(1))
	if err != nil {
		return nil, err
	}
	beta, err := b.Param(name, "shift", Shift, []int{g.c}, g.c, g.c, Constant(0))
	if err != nil {
		return nil, err
	}
	op := &setNormOp{opBase: opBase{uniqueName(kind, name)}, g: g, dims: x.Dims(), grad: -1}
	y, err := G.ApplyOp(op, x, gamma, beta)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return y, nil
}

// setGeom says which values are normalised together: the input, row-major, is units blocks of
// positions×c values, and within a unit channels [k·c/groups, (k+1)·c/groups) of every
// position form set k.
type setGeom struct {
	units, positions, c, groups int
	eps                         float64
}

// forEachSet calls f(k, idx) for every set; idx lists the set's offsets in the input, in
// order, and is reused between calls. With par, units are split between workers, so f must
// then write only its own set's outputs.
func (g setGeom) forEachSet(par bool, f func(k int, idx []int)) {
	cg := g.c / g.groups
	run := func(lo, hi int) {
		idx := make([]int, 0, g.positions*cg)
		for u := lo; u < hi; u++ {
			for k := 0; k < g.groups; k++ {
				idx = idx[:0]
				for p := 0; p < g.positions; p++ {
					base := (u*g.positions+p)*g.c + k*cg
					for j := 0; j < cg; j++ {
						idx = append(idx, base+j)
					}
				}
				f(k, idx)
			}
		}
	}
	if !par {
		run(0, g.units)
		return
	}
	parallel(g.units, max(1, 1<<12/(g.positions*g.c)), run)
}

// setStats returns the mean of x over idx and 1/√(var + ε), the biased variance, in float64.
func setStats[T float](x []T, idx []int, eps float64) (mean, inv float64) {
	for _, i := range idx {
		mean += float64(x[i])
	}
	mean /= float64(len(idx))
	v := 0.0
	for _, i := range idx {
		d := float64(x[i]) - mean
		v += d * d
	}
	return mean, 1 / math.Sqrt(v/float64(len(idx))+eps)
}

// setNormOp computes y = γ·(x − μ)·inv + β from (x, γ, β), or with grad ≥ 0 one of the
// gradients from (x, γ, ∂L/∂y): with x̂ = (x − μ)·inv and ĝ = γ·∂L/∂y on a set of m values,
//
//	∂L/∂x = inv·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))   (grad 0)
//	∂L/∂γ_c = Σ ∂L/∂y·x̂   (grad 1),   ∂L/∂β_c = Σ ∂L/∂y   (grad 2),
//
// the last two over every value of channel c. Each recomputes the statistics from x: no state
// passes between the forward and backward ops.
type setNormOp struct {
	opBase
	g    setGeom
	dims int
	grad int // −1 for the forward op
	out  *tensor.Dense
}

func (op *setNormOp) Arity() int { return 3 }

func (op *setNormOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t, v := G.TensorType{Dims: op.dims, Of: a}, G.TensorType{Dims: 1, Of: a}
	if op.grad > 0 {
		return hm.NewFnType(t, v, t, v)
	}
	if op.grad == 0 {
		return hm.NewFnType(t, v, t, t)
	}
	return hm.NewFnType(t, v, v, t)
}

func (op *setNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if op.grad > 0 {
		return tensor.Shape{op.g.c}, nil
	}
	return firstShape(op.name, in)
}

func (op *setNormOp) Do(in ...G.Value) (G.Value, error) {
	var v [3]*tensor.Dense
	for k := range v {
		var err error
		if v[k], err = values(in[k], op.name); err != nil {
			return nil, err
		}
	}
	x := v[0]
	if x.Size() != op.g.units*op.g.positions*op.g.c || v[1].Size() != op.g.c {
		return nil, fmt.Errorf("%s: input %v and scale %v do not match the layer", op.name, x.Shape(), v[1].Shape())
	}
	var out *tensor.Dense
	if op.grad > 0 {
		out = reuse(&op.out, x.Dtype(), op.g.c)
	} else {
		out = reuse(&op.out, x.Dtype(), x.Shape()...)
	}
	switch x.Dtype() {
	case tensor.Float32:
		setNorm(op, slice32(x), slice32(v[1]), slice32(v[2]), slice32(out))
	default:
		setNorm(op, slice64(x), slice64(v[1]), slice64(v[2]), slice64(out))
	}
	return out, nil
}

// setNorm computes op's output from x, γ and z (β forward, ∂L/∂y backward).
func setNorm[T float](op *setNormOp, x, gamma, z, out []T) {
	g := op.g
	c := g.c
	switch op.grad {
	case -1:
		g.forEachSet(true, func(_ int, idx []int) {
			mean, inv := setStats(x, idx, g.eps)
			for _, i := range idx {
				ch := i % c
				out[i] = T((float64(x[i])-mean)*inv*float64(gamma[ch]) + float64(z[ch]))
			}
		})
	case 0:
		g.forEachSet(true, func(_ int, idx []int) {
			mean, inv := setStats(x, idx, g.eps)
			m := float64(len(idx))
			sumG, sumGX := 0.0, 0.0
			for _, i := range idx {
				gh := float64(z[i]) * float64(gamma[i%c])
				sumG += gh
				sumGX += gh * (float64(x[i]) - mean) * inv
			}
			for _, i := range idx {
				xh := (float64(x[i]) - mean) * inv
				out[i] = T(inv * (float64(z[i])*float64(gamma[i%c]) - sumG/m - xh*sumGX/m))
			}
		})
	default:
		acc := make([]float64, c)
		g.forEachSet(false, func(_ int, idx []int) {
			mean, inv := setStats(x, idx, g.eps)
			for _, i := range idx {
				if op.grad == 1 {
					acc[i%c] += float64(z[i]) * (float64(x[i]) - mean) * inv
				} else {
					acc[i%c] += float64(z[i])
				}
			}
		})
		for ch, a := range acc {
			out[ch] = T(a)
		}
	}
}

func (op *setNormOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (op *setNormOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.grad >= 0 {
		return nil, fmt.Errorf("%s: no second derivative", op.name)
	}
	out := make(G.Nodes, 3)
	for k, suffix := range [...]string{".dx", ".dscale", ".dshift"} {
		gop := &setNormOp{opBase: opBase{op.name + suffix}, g: op.g, dims: op.dims, grad: k}
		var err error
		if out[k], err = G.ApplyOp(gop, inputs[0], inputs[1], grad); err != nil {
			return nil, err
		}
	}
	return out, nil
}
