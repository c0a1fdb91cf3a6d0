package graph

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Dropout zeroes each element of its input with probability P while training and scales the
// others by 1/(1−P) (inverted dropout), so that evaluation graphs, where it is the identity,
// see activations of the same expected size.
//
// Masks are reproducible. Training run s of the layer (s = 0, 1, … counts the runs of training
// graphs built without FreezeStats, one per training step) keeps element i of the input, in
// row-major order, iff the i-th Float64 of rand.NewPCG(k, s) is at least P, where k is the
// FNV-1a 64-bit hash of the store's seed and Seed (8 bytes each, little-endian) followed by
// Name. The count s lives in the buffer <Name>.step, as (s mod 2²⁰, s div 2²⁰) so that
// float32 holds it exactly; checkpoints carry it, so a run resumed from a checkpoint draws
// the same masks as one that never stopped.
//
// Analysis passes on graphs built with FreezeStats (train.NewProbe) use the mask of the next
// training run, s as it stands, without advancing it: they see a network the training steps
// could see, and running them does not change the masks of training. Hook captures on the
// training graph record the inputs and gradients of the step's own mask, as that step trained on.
type Dropout struct {
	Name string
	P    float64 // probability of zeroing an element, in [0, 1)
	Seed uint64  // mixed with the store's seed, so that several runs differ only in it
}

// dropCount is the base of the two-part step counter.
const dropCount = 1 << 20

// Forward implements Layer.
func (l *Dropout) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	if !(l.P >= 0 && l.P < 1) {
		return nil, fmt.Errorf("%s: dropout probability %v is not in [0, 1)", l.Name, l.P)
	}
	if l.Name == "" {
		return nil, fmt.Errorf("dropout: a name is required (it selects the layer's masks)")
	}
	step, err := b.Buffer(l.Name, "step", []int{2}, 0)
	if err != nil {
		return nil, err
	}
	if !b.Training() || l.P == 0 {
		return x, nil
	}
	h := fnv.New64a()
	var seeds [16]byte
	binary.LittleEndian.PutUint64(seeds[:8], b.Store.Seed())
	binary.LittleEndian.PutUint64(seeds[8:], l.Seed)
	h.Write(seeds[:])
	h.Write([]byte(l.Name))
	st := &dropState{p: l.P, key: h.Sum64(), step: step, advance: !b.FreezeStats}
	return G.ApplyOp(&dropOp{opBase: opBase{uniqueName("dropout", l.Name)}, st: st, dims: x.Dims()}, x)
}

// dropState is shared by a dropout's forward op and its gradient op: the mask of the run.
type dropState struct {
	p       float64
	key     uint64
	step    *tensor.Dense // the buffer <name>.step
	advance bool
	mask    any // []float32 or []float64: 0 or 1/(1−p) per element
}

// counter reads the step buffer.
func (st *dropState) counter() uint64 {
	var lo, hi float64
	switch d := st.step.Data().(type) {
	case []float32:
		lo, hi = float64(d[0]), float64(d[1])
	case []float64:
		lo, hi = d[0], d[1]
	}
	return uint64(hi)*dropCount + uint64(lo)
}

func (st *dropState) setCounter(s uint64) {
	lo, hi := s%dropCount, s/dropCount
	switch d := st.step.Data().(type) {
	case []float32:
		d[0], d[1] = float32(lo), float32(hi)
	case []float64:
		d[0], d[1] = float64(lo), float64(hi)
	}
}

// newMask draws the mask of the current run into st.mask.
func newMask[T float](st *dropState, n int) []T {
	m, _ := st.mask.([]T)
	if len(m) != n {
		m = make([]T, n)
		st.mask = m
	}
	s := st.counter()
	rng := rand.New(rand.NewPCG(st.key, s))
	keep := T(1 / (1 - st.p))
	for i := range m {
		if rng.Float64() >= st.p {
			m[i] = keep
		} else {
			m[i] = 0
		}
	}
	if st.advance {
		st.setCounter(s + 1)
	}
	return m
}

// dropOp computes x·mask, drawing the run's mask, or with back set ∂L/∂x = ∂L/∂y·mask from
// ∂L/∂y with the mask its forward op drew.
type dropOp struct {
	opBase
	st   *dropState
	dims int
	back bool
	out  *tensor.Dense
}

func (op *dropOp) Arity() int { return 1 }

func (op *dropOp) Type() hm.Type {
	t := G.TensorType{Dims: op.dims, Of: hm.TypeVariable('a')}
	return hm.NewFnType(t, t)
}

func (op *dropOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return firstShape(op.name, in)
}

func (op *dropOp) Do(in ...G.Value) (G.Value, error) {
	x, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	out := reuse(&op.out, x.Dtype(), x.Shape()...)
	switch x.Dtype() {
	case tensor.Float32:
		err = dropApply(op, slice32(x), slice32(out))
	default:
		err = dropApply(op, slice64(x), slice64(out))
	}
	return out, err
}

func dropApply[T float](op *dropOp, x, out []T) error {
	var m []T
	if op.back {
		var ok bool
		if m, ok = op.st.mask.([]T); !ok || len(m) != len(x) {
			return fmt.Errorf("%s: no mask of %d values from the forward pass", op.name, len(x))
		}
	} else {
		m = newMask[T](op.st, len(x))
	}
	for i, v := range x {
		out[i] = v * m[i]
	}
	return nil
}

func (op *dropOp) DiffWRT(int) []bool { return []bool{true} }

func (op *dropOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.back {
		return nil, fmt.Errorf("%s: no second derivative", op.name)
	}
	back := &dropOp{opBase: opBase{op.name + ".grad"}, st: op.st, dims: op.dims, back: true}
	d, err := G.ApplyOp(back, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}
