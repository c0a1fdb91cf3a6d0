package graph

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BatchNorm normalises each of C features over the rows of its input (rows × C; for
// convolutions in channels-last layout the rows are the batch's pixels). In training graphs it
// uses batch statistics and updates the running statistics (PyTorch convention: unbiased
// running variance, momentum weight of the new batch); in evaluation graphs it uses the running
// statistics. Its scale γ starts at 1 and its shift β at 0.
type BatchNorm struct {
	Name     string
	C        int
	Momentum float64 // default 0.1
	Eps      float64 // default 1e-5
}

// NewBatchNorm returns a BatchNorm with PyTorch's defaults.
func NewBatchNorm(name string, c int) *BatchNorm {
	return &BatchNorm{Name: name, C: c, Momentum: 0.1, Eps: 1e-5}
}

// Forward implements Layer.
func (l *BatchNorm) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if len(s) < 2 || s[len(s)-1] != l.C {
		return nil, fmt.Errorf("%s: input shape %v, expected (…, %d) with features last", l.Name, s, l.C)
	}
	gamma, err := b.Param(l.Name, "scale", Scale, []int{l.C}, l.C, l.C, Constant(1))
	if err != nil {
		return nil, err
	}
	beta, err := b.Param(l.Name, "shift", Shift, []int{l.C}, l.C, l.C, Constant(0))
	if err != nil {
		return nil, err
	}
	mean, err := b.Buffer(l.Name, "running_mean", []int{l.C}, 0)
	if err != nil {
		return nil, err
	}
	variance, err := b.Buffer(l.Name, "running_var", []int{l.C}, 1)
	if err != nil {
		return nil, err
	}
	momentum, eps := l.Momentum, l.Eps
	if momentum == 0 {
		momentum = 0.1
	}
	if eps == 0 {
		eps = 1e-5
	}
	st := &bnState{layer: l.Name, dims: len(s), c: l.C, eps: eps, momentum: momentum,
		runMean: mean, runVar: variance, training: b.Training(), freeze: b.FreezeStats}
	return G.ApplyOp(&bnOp{opBase: opBase{uniqueName("batchnorm", l.Name)}, st: st}, x, gamma, beta)
}

// bnState is shared by a BatchNorm's forward op and its gradient ops: the backward pass reuses
// the normalised input and inverse deviations of the forward pass of the same run.
type bnState struct {
	layer         string
	dims, c       int
	eps, momentum float64
	runMean       *tensor.Dense
	runVar        *tensor.Dense
	training      bool
	freeze        bool      // no running-statistics updates (Builder.FreezeStats)
	xhat          []float64 // rows × c
	invstd        []float64 // c
	// gen counts forward passes; the backward sums Σdy and Σdy·x̂ are computed once per pass
	// (sumsGen) and shared by the three gradient ops.
	gen, sumsGen   int
	sumDy, sumDyXh []float64
	mean, variance []float64 // forward scratch
}

type bnOp struct {
	opBase
	st  *bnState
	out *tensor.Dense
}

func (op *bnOp) Arity() int { return 3 }

func (op *bnOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: op.st.dims, Of: a}
	v := G.TensorType{Dims: 1, Of: a}
	return hm.NewFnType(t, v, v, t)
}

func (op *bnOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *bnOp) Do(in ...G.Value) (G.Value, error) {
	x, err := dense(in[0], op.name)
	if err != nil {
		return nil, err
	}
	gamma, err := dense(in[1], op.name)
	if err != nil {
		return nil, err
	}
	beta, err := dense(in[2], op.name)
	if err != nil {
		return nil, err
	}
	y := reuse(&op.out, x.Dtype(), x.Shape()...)
	switch x.Dtype() {
	case tensor.Float32:
		bnForward(op.st, slice32(x), slice32(gamma), slice32(beta), slice32(y))
	case tensor.Float64:
		bnForward(op.st, slice64(x), slice64(gamma), slice64(beta), slice64(y))
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, x.Dtype())
	}
	op.st.gen++
	return y, nil
}

func bnForward[T float](st *bnState, x, gamma, beta, y []T) {
	c := st.c
	rows := len(x) / c
	if !st.training {
		rm := st.runMean.Data().([]T)
		rv := st.runVar.Data().([]T)
		for j := 0; j < c; j++ {
			s := float64(gamma[j]) / math.Sqrt(float64(rv[j])+st.eps)
			for r := 0; r < rows; r++ {
				i := r*c + j
				y[i] = T((float64(x[i])-float64(rm[j]))*s + float64(beta[j]))
			}
		}
		return
	}
	st.mean = resize(st.mean, c)
	st.variance = resize(st.variance, c)
	mean, variance := st.mean, st.variance
	clear(mean)
	clear(variance)
	for r := 0; r < rows; r++ {
		for j, v := range x[r*c : (r+1)*c] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(rows)
	}
	for r := 0; r < rows; r++ {
		for j, v := range x[r*c : (r+1)*c] {
			d := float64(v) - mean[j]
			variance[j] += d * d
		}
	}
	if cap(st.xhat) < len(x) {
		st.xhat = make([]float64, len(x))
	}
	st.xhat = st.xhat[:len(x)]
	if cap(st.invstd) < c {
		st.invstd = make([]float64, c)
	}
	st.invstd = st.invstd[:c]
	for j := range variance {
		variance[j] /= float64(rows)
		st.invstd[j] = 1 / math.Sqrt(variance[j]+st.eps)
	}
	for r := 0; r < rows; r++ {
		xr, xhr, yr := x[r*c:(r+1)*c], st.xhat[r*c:(r+1)*c], y[r*c:(r+1)*c]
		for j, v := range xr {
			xh := (float64(v) - mean[j]) * st.invstd[j]
			xhr[j] = xh
			yr[j] = T(xh*float64(gamma[j]) + float64(beta[j]))
		}
	}
	if st.freeze {
		return
	}
	rm := st.runMean.Data().([]T)
	rv := st.runVar.Data().([]T)
	m := st.momentum
	unbias := 1.0
	if rows > 1 {
		unbias = float64(rows) / float64(rows-1)
	}
	for j := 0; j < c; j++ {
		rm[j] = T((1-m)*float64(rm[j]) + m*mean[j])
		rv[j] = T((1-m)*float64(rv[j]) + m*variance[j]*unbias)
	}
}

func (op *bnOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (op *bnOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if !op.st.training {
		return nil, fmt.Errorf("%s: evaluation-mode BatchNorm has no gradient", op.name)
	}
	out := make(G.Nodes, 3)
	for i := range out {
		var err error
		gop := &bnGradOp{opBase: opBase{uniqueName(bnGradNames[i], op.st.layer)}, st: op.st, which: i}
		if out[i], err = G.ApplyOp(gop, inputs[0], inputs[1], grad); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var bnGradNames = [3]string{"batchnorm.dx", "batchnorm.dscale", "batchnorm.dshift"}

// bnGradOp computes one of BatchNorm's three input gradients from (x, γ, ∂L/∂y) and the
// forward pass's cached statistics.
type bnGradOp struct {
	opBase
	st    *bnState
	which int // 0: x, 1: γ, 2: β
	out   *tensor.Dense
}

func (op *bnGradOp) Arity() int { return 3 }

func (op *bnGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: op.st.dims, Of: a}
	v := G.TensorType{Dims: 1, Of: a}
	if op.which == 0 {
		return hm.NewFnType(t, v, t, t)
	}
	return hm.NewFnType(t, v, t, v)
}

func (op *bnGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if op.which == 0 {
		return in[0].(tensor.Shape).Clone(), nil
	}
	return tensor.Shape{op.st.c}, nil
}

func (op *bnGradOp) Do(in ...G.Value) (G.Value, error) {
	x, err := dense(in[0], op.name)
	if err != nil {
		return nil, err
	}
	gamma, err := dense(in[1], op.name)
	if err != nil {
		return nil, err
	}
	dy, err := dense(in[2], op.name)
	if err != nil {
		return nil, err
	}
	if len(op.st.xhat) != x.Size() {
		return nil, fmt.Errorf("%s: no forward statistics for this input", op.name)
	}
	var out *tensor.Dense
	if op.which == 0 {
		out = reuse(&op.out, x.Dtype(), x.Shape()...)
	} else {
		out = reuse(&op.out, gamma.Dtype(), gamma.Shape()...)
	}
	switch dy.Dtype() {
	case tensor.Float32:
		bnBackward(op.st, op.which, slice32(dy), slice32(gamma), slice32(out))
	case tensor.Float64:
		bnBackward(op.st, op.which, slice64(dy), slice64(gamma), slice64(out))
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, dy.Dtype())
	}
	return out, nil
}

// bnBackward: with x̂ the normalised input and R rows,
// ∂L/∂β = Σ dy, ∂L/∂γ = Σ dy·x̂, ∂L/∂x = γ·invstd/R · (R·dy − Σdy − x̂·Σ(dy·x̂)).
func bnBackward[T float](st *bnState, which int, dy, gamma, out []T) {
	c := st.c
	rows := len(dy) / c
	if st.sumsGen != st.gen || len(st.sumDy) != c {
		st.sumDy = resize(st.sumDy, c)
		st.sumDyXh = resize(st.sumDyXh, c)
		clear(st.sumDy)
		clear(st.sumDyXh)
		for r := 0; r < rows; r++ {
			d, xh := dy[r*c:(r+1)*c], st.xhat[r*c:(r+1)*c]
			for j, v := range d {
				st.sumDy[j] += float64(v)
				st.sumDyXh[j] += float64(v) * xh[j]
			}
		}
		st.sumsGen = st.gen
	}
	sumDy, sumDyX := st.sumDy, st.sumDyXh
	switch which {
	case 1:
		for j := range out {
			out[j] = T(sumDyX[j])
		}
	case 2:
		for j := range out {
			out[j] = T(sumDy[j])
		}
	default:
		n := float64(rows)
		k := make([]float64, c)
		for j := range k {
			k[j] = float64(gamma[j]) * st.invstd[j] / n
		}
		for r := 0; r < rows; r++ {
			d, xh, o := dy[r*c:(r+1)*c], st.xhat[r*c:(r+1)*c], out[r*c:(r+1)*c]
			for j, v := range d {
				o[j] = T(k[j] * (n*float64(v) - sumDy[j] - xh[j]*sumDyX[j]))
			}
		}
	}
}

func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
