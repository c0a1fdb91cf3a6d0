package graph

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/chewxy/hm"
	"github.com/lwca/lwca/graph/internal/vec"
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
func (l *BatchNorm) Forward(b *Builder, x *G.Node) (*G.Node, error) { return l.forward(b, x, false) }

// forward builds the layer, followed by a rectifier when relu is set: Sequential fuses a
// BatchNorm and the ReLU after it into one op, whose forward pass is one pass over the data and
// whose backward pass gates ∂L/∂y inside BatchNorm's own two passes (vec's gated kernels),
// with the same results, bit for bit, as the two layers apart.
func (l *BatchNorm) forward(b *Builder, x *G.Node, relu bool) (*G.Node, error) {
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
		runMean: mean, runVar: variance, training: b.Training(), freeze: b.FreezeStats, relu: relu}
	kind := "batchnorm"
	if relu {
		kind = "batchnorm+relu"
	}
	return G.ApplyOp(&bnOp{opBase: opBase{uniqueName(kind, l.Name)}, st: st}, x, gamma, beta)
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
	relu          bool      // the output is rectified (a fused ReLU)
	scale, shift  []float64 // c, the affine map y = x·scale + shift of the last forward pass
	invstd        []float64 // c
	mean          []float64 // c, batch mean of the last training run
	// sums of dy and dy·x̂ over the rows, shared by the three gradient ops of one run
	sumDy, sumDyX []float64
	sumsReady     bool
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
	return y, nil
}

// bnMoments returns each column's mean and biased variance over the rows of the rows×c matrix
// x in one pass, in parallel over row blocks whose float64 partial sums are added in block
// order, so the result does not depend on scheduling. The sums are of x − x₀ with x₀ the
// column's first value: the variance then keeps its precision for a column far from zero.
func bnMoments[T float](x []T, c int) (mean, variance []float64) {
	rows := len(x) / c
	shift := f64(x[:c])
	parts := orderedBlocks(rows, 2048, c, 2, func(lo, hi int, acc [][]float64) {
		vec.ColumnMoments(x[lo*c:hi*c], shift, acc[0], acc[1])
	})
	n := float64(rows)
	mean, variance = parts[0], parts[1]
	for j := range mean {
		m := mean[j] / n
		mean[j] = shift[j] + m
		variance[j] = max(variance[j]/n-m*m, 0)
	}
	return mean, variance
}

// orderedBlocks splits rows into blocks run in parallel; each block accumulates into k fresh
// vectors of length c, and the blocks' vectors are summed in block order.
func orderedBlocks(rows, grain, c, k int, f func(lo, hi int, acc [][]float64)) [][]float64 {
	workers := max(1, min(runtime.GOMAXPROCS(0), rows/max(grain, 1)))
	parts := make([][][]float64, workers)
	for w := range parts {
		parts[w] = make([][]float64, k)
		for i := range parts[w] {
			parts[w][i] = make([]float64, c)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*rows/workers, (w+1)*rows/workers
		wg.Go(func() { f(lo, hi, parts[w]) })
	}
	wg.Wait()
	for w := 1; w < workers; w++ {
		for i := range parts[0] {
			for j, v := range parts[w][i] {
				parts[0][i][j] += v
			}
		}
	}
	return parts[0]
}

// bnAffine sets y = x·scale + shift column by column.
// bnAffine sets y = x·scale + shift, rectified when relu is set, with the coefficients rounded
// to T (as the backward pass's gates round them again).
func bnAffine[T float](x, y []T, scale, shift []float64, relu bool) {
	c := len(scale)
	s, b := asT[T](scale), asT[T](shift)
	affine := vec.ScaleShiftRows[T]
	if relu {
		affine = vec.ScaleShiftReluRows[T]
	}
	parallel(len(x)/c, 2048, func(lo, hi int) { affine(y[lo*c:hi*c], x[lo*c:hi*c], s, b) })
}

func asT[T float](v []float64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

func bnForward[T float](st *bnState, x, gamma, beta, y []T) {
	c := st.c
	rows := len(x) / c
	st.sumsReady = false
	scale, shift := make([]float64, c), make([]float64, c)
	st.scale, st.shift = scale, shift
	if !st.training {
		rm := st.runMean.Float64s()
		rv := st.runVar.Float64s()
		if st.runMean.Dtype() == tensor.Float32 {
			rm, rv = f64(st.runMean.Float32s()), f64(st.runVar.Float32s())
		}
		for j := range scale {
			scale[j] = float64(gamma[j]) / math.Sqrt(rv[j]+st.eps)
			shift[j] = float64(beta[j]) - rm[j]*scale[j]
		}
		bnAffine(x, y, scale, shift, st.relu)
		return
	}
	mean, variance := bnMoments(x, c)
	st.mean, st.invstd = mean, make([]float64, c)
	for j := range variance {
		st.invstd[j] = 1 / math.Sqrt(variance[j]+st.eps)
		scale[j] = float64(gamma[j]) * st.invstd[j]
		shift[j] = float64(beta[j]) - mean[j]*scale[j]
	}
	bnAffine(x, y, scale, shift, st.relu)
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

func f64[T float](v []T) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
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
	if len(op.st.mean) != op.st.c {
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
		bnBackward(op.st, op.which, slice32(x), slice32(dy), slice32(gamma), slice32(out))
	case tensor.Float64:
		bnBackward(op.st, op.which, slice64(x), slice64(dy), slice64(gamma), slice64(out))
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, dy.Dtype())
	}
	return out, nil
}

// bnBackward: with x̂ = (x − mean)·invstd (recomputed from x) and R rows,
// ∂L/∂β = Σ dy, ∂L/∂γ = Σ dy·x̂, ∂L/∂x = γ·invstd/R · (R·dy − Σdy − x̂·Σ(dy·x̂)).
// The sums are computed once per run, by whichever gradient op runs first. With a fused
// ReLU, dy is the gradient after the rectifier, gated here by where the forward pass's
// x·scale + shift was positive.
func bnBackward[T float](st *bnState, which int, x, dy, gamma, out []T) {
	c := st.c
	rows := len(dy) / c
	var gs, gt []T
	if st.relu {
		gs, gt = asT[T](st.scale), asT[T](st.shift)
	}
	if !st.sumsReady {
		sums := orderedBlocks(rows, 2048, c, 2, func(lo, hi int, acc [][]float64) {
			if st.relu {
				vec.ColumnCrossGated(x[lo*c:hi*c], dy[lo*c:hi*c], st.mean, acc[0], acc[1], gs, gt)
			} else {
				vec.ColumnCross(x[lo*c:hi*c], dy[lo*c:hi*c], st.mean, acc[0], acc[1])
			}
		})
		st.sumDy, st.sumDyX = sums[0], sums[1]
		for j := range st.sumDyX {
			st.sumDyX[j] *= st.invstd[j]
		}
		st.sumsReady = true
	}
	switch which {
	case 1:
		for j := range out {
			out[j] = T(st.sumDyX[j])
		}
	case 2:
		for j := range out {
			out[j] = T(st.sumDy[j])
		}
	default:
		// dx = a·dy + b·x + d per column, with a = γ·invstd, b = −a·invstd·Σ(dy·x̂)/R,
		// d = −a·Σdy/R − b·mean.
		n := float64(rows)
		a, b, d := make([]T, c), make([]T, c), make([]T, c)
		for j := range a {
			aj := float64(gamma[j]) * st.invstd[j]
			bj := -aj * st.invstd[j] * st.sumDyX[j] / n
			a[j], b[j], d[j] = T(aj), T(bj), T(-aj*st.sumDy[j]/n-bj*st.mean[j])
		}
		parallel(rows, 2048, func(lo, hi int) {
			if st.relu {
				vec.LinearRowsGated(out[lo*c:hi*c], dy[lo*c:hi*c], x[lo*c:hi*c], a, b, d, gs, gt)
			} else {
				vec.LinearRows(out[lo*c:hi*c], dy[lo*c:hi*c], x[lo*c:hi*c], a, b, d)
			}
		})
	}
}

func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
