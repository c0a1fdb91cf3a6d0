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
	return G.ApplyOp(&bnOp{opBase{uniqueName("batchnorm", l.Name)}, st}, x, gamma, beta)
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
}

type bnOp struct {
	opBase
	st *bnState
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
	y := newLike(x)
	switch xd := x.Data().(type) {
	case []float32:
		bnForward(op.st, xd, gamma.Data().([]float32), beta.Data().([]float32), y.Data().([]float32))
	case []float64:
		bnForward(op.st, xd, gamma.Data().([]float64), beta.Data().([]float64), y.Data().([]float64))
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, x.Dtype())
	}
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
	mean := make([]float64, c)
	for r := 0; r < rows; r++ {
		for j, v := range x[r*c : (r+1)*c] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(rows)
	}
	variance := make([]float64, c)
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
		for j := 0; j < c; j++ {
			i := r*c + j
			xh := (float64(x[i]) - mean[j]) * st.invstd[j]
			st.xhat[i] = xh
			y[i] = T(xh*float64(gamma[j]) + float64(beta[j]))
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
		gop := &bnGradOp{opBase{uniqueName(bnGradNames[i], op.st.layer)}, op.st, i}
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
		out = newLike(x)
	} else {
		out = newLike(gamma)
	}
	switch d := dy.Data().(type) {
	case []float32:
		bnBackward(op.st, op.which, d, gamma.Data().([]float32), out.Data().([]float32))
	case []float64:
		bnBackward(op.st, op.which, d, gamma.Data().([]float64), out.Data().([]float64))
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
	sumDy := make([]float64, c)
	sumDyX := make([]float64, c)
	for r := 0; r < rows; r++ {
		for j := 0; j < c; j++ {
			i := r*c + j
			sumDy[j] += float64(dy[i])
			sumDyX[j] += float64(dy[i]) * st.xhat[i]
		}
	}
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
		for r := 0; r < rows; r++ {
			for j := 0; j < c; j++ {
				i := r*c + j
				k := float64(gamma[j]) * st.invstd[j] / n
				out[i] = T(k * (n*float64(dy[i]) - sumDy[j] - st.xhat[i]*sumDyX[j]))
			}
		}
	}
}
