package graph

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// CrossEntropy is the softmax cross-entropy loss, averaged over a batch's labelled rows. The
// labels are set before each run; rows labelled Ignore (padding of a last partial batch) add
// nothing. After a run it holds the batch's softmax probabilities and per-sample losses.
type CrossEntropy struct {
	labels  []int32
	sampler func(row int, probs []float64) int32
	rows, k int
	probs   []float64 // rows × k
	losses  []float64 // rows
	loss    float64
	counted int
}

// Ignore marks a row that is not part of the loss.
const Ignore int32 = -1

// SoftmaxCrossEntropy adds the mean softmax cross-entropy of logits (rows × classes) to the
// graph and returns the scalar loss node and its label/probability handle.
func SoftmaxCrossEntropy(logits *G.Node) (*G.Node, *CrossEntropy, error) {
	s := logits.Shape()
	if len(s) != 2 {
		return nil, nil, fmt.Errorf("cross-entropy: logits shape %v, expected (rows, classes)", s)
	}
	ce := &CrossEntropy{rows: s[0], k: s[1], labels: make([]int32, s[0])}
	n, err := G.ApplyOp(&ceOp{opBase: opBase{uniqueName("xent", logits.Name())}, ce: ce}, logits)
	return n, ce, err
}

// SetLabels sets the labels of the next run: len(y) must be the number of rows; each is a class
// index or Ignore.
func (c *CrossEntropy) SetLabels(y []int32) error {
	if len(y) != c.rows {
		return fmt.Errorf("cross-entropy: %d labels for %d rows", len(y), c.rows)
	}
	for i, v := range y {
		if v != Ignore && (v < 0 || int(v) >= c.k) {
			return fmt.Errorf("cross-entropy: label %d of row %d is outside [0,%d)", v, i, c.k)
		}
	}
	copy(c.labels, y)
	return nil
}

// SampleLabels makes every later run replace each labelled row's label by draw(row, p), p the
// row's softmax probabilities, before the loss and its gradient are formed: the backward pass
// then gives the gradients of the "true" Fisher (labels from the model's own predictive
// distribution). nil restores the given labels' use.
func (c *CrossEntropy) SampleLabels(draw func(row int, probs []float64) int32) { c.sampler = draw }

// Labels returns the current labels (not a copy); after a sampling run, the sampled ones.
func (c *CrossEntropy) Labels() []int32 { return c.labels }

// Classes is the number of classes.
func (c *CrossEntropy) Classes() int { return c.k }

// Loss is the mean loss of the last run.
func (c *CrossEntropy) Loss() float64 { return c.loss }

// Probabilities are the softmax outputs of the last run (rows × classes, row-major).
func (c *CrossEntropy) Probabilities() []float64 { return c.probs }

// SampleLosses are the per-row losses of the last run (0 for ignored rows).
func (c *CrossEntropy) SampleLosses() []float64 { return c.losses }

// Counted is the number of labelled rows in the last run.
func (c *CrossEntropy) Counted() int { return c.counted }

// Correct counts labelled rows whose largest probability is at the label.
func (c *CrossEntropy) Correct() int {
	n := 0
	for r, y := range c.labels {
		if y == Ignore {
			continue
		}
		row := c.probs[r*c.k : (r+1)*c.k]
		best := 0
		for j, p := range row {
			if p > row[best] {
				best = j
			}
		}
		if best == int(y) {
			n++
		}
	}
	return n
}

func (c *CrossEntropy) forward(logits []float64) {
	if len(c.probs) != len(logits) {
		c.probs = make([]float64, len(logits))
		c.losses = make([]float64, c.rows)
	}
	total, counted := 0.0, 0
	for r := 0; r < c.rows; r++ {
		row := logits[r*c.k : (r+1)*c.k]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(v - m)
		}
		lse := m + math.Log(sum)
		p := c.probs[r*c.k : (r+1)*c.k]
		for j, v := range row {
			p[j] = math.Exp(v - lse)
		}
		c.losses[r] = 0
		if c.sampler != nil && c.labels[r] != Ignore {
			c.labels[r] = c.sampler(r, p)
		}
		if y := c.labels[r]; y != Ignore {
			c.losses[r] = lse - row[y]
			total += c.losses[r]
			counted++
		}
	}
	c.counted = counted
	c.loss = math.NaN()
	if counted > 0 {
		c.loss = total / float64(counted)
	}
}

type ceOp struct {
	opBase
	ce  *CrossEntropy
	buf []float64 // float32 logits widened
}

func (op *ceOp) Arity() int { return 1 }

func (op *ceOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, a)
}

func (op *ceOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }

func (op *ceOp) Do(in ...G.Value) (G.Value, error) {
	t, err := dense(in[0], op.name)
	if err != nil {
		return nil, err
	}
	switch t.Dtype() {
	case tensor.Float32:
		d := slice32(t)
		op.buf = resize(op.buf, len(d))
		for i, v := range d {
			op.buf[i] = float64(v)
		}
		op.ce.forward(op.buf)
		return G.NewF32(float32(op.ce.loss)), nil
	case tensor.Float64:
		op.ce.forward(slice64(t))
		return G.NewF64(op.ce.loss), nil
	}
	return nil, fmt.Errorf("%s: unsupported dtype %v", op.name, t.Dtype())
}

func (op *ceOp) DiffWRT(int) []bool { return []bool{true} }

func (op *ceOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&ceGradOp{opBase: opBase{op.name + ".grad"}, ce: op.ce}, inputs[0], grad)
	return G.Nodes{d}, err
}

// ceGradOp: ∂L/∂logits_r = (p_r − onehot(y_r)) · seed / counted for labelled rows, 0 otherwise.
type ceGradOp struct {
	opBase
	ce  *CrossEntropy
	out *tensor.Dense
}

func (op *ceGradOp) Arity() int { return 2 }

func (op *ceGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t, a, t)
}

func (op *ceGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}

func (op *ceGradOp) Do(in ...G.Value) (G.Value, error) {
	t, err := dense(in[0], op.name)
	if err != nil {
		return nil, err
	}
	seed, err := scalarOf(in[1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.name, err)
	}
	out := reuse(&op.out, t.Dtype(), t.Shape()...)
	c := op.ce
	scale := 0.0
	if c.counted > 0 {
		scale = seed / float64(c.counted)
	}
	switch out.Dtype() {
	case tensor.Float32:
		ceGrad(c, scale, slice32(out))
	case tensor.Float64:
		ceGrad(c, scale, slice64(out))
	}
	return out, nil
}

func ceGrad[T float](c *CrossEntropy, scale float64, out []T) {
	for r, y := range c.labels {
		row := out[r*c.k : (r+1)*c.k]
		if y == Ignore {
			clear(row)
			continue
		}
		for j := range row {
			g := c.probs[r*c.k+j]
			if j == int(y) {
				g--
			}
			row[j] = T(g * scale)
		}
	}
}
