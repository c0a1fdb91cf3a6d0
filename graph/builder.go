package graph

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/lwca/lwca/hooks"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Layer is one building block of a network. Forward adds the layer's nodes to b's graph and
// returns its output. It is called once per graph (training and evaluation), so a layer keeps
// no per-graph state: parameters and buffers live in b.Store, found again by name.
type Layer interface {
	Forward(b *Builder, x *G.Node) (*G.Node, error)
}

// Mode says which graph a Builder builds.
type Mode int

const (
	// Train builds the training graph: batch statistics, hook taps, gradients.
	Train Mode = iota
	// Eval builds a forward-only graph that uses running statistics.
	Eval
)

// Role tells what a parameter is, for optimisers and reports.
type Role int

const (
	Weight Role = iota // the W of a weighted layer
	Bias               // additive bias of a weighted layer
	Scale              // normalisation scale γ
	Shift              // normalisation shift β
)

func (r Role) String() string {
	return [...]string{"weight", "bias", "scale", "shift"}[r]
}

// Param is a trainable tensor shared by every graph built on its Store.
type Param struct {
	Name  string // unique, e.g. "fc1.weight"
	Layer string // owning layer, e.g. "fc1"
	Role  Role
	Value *tensor.Dense
}

// Buffer is non-trainable state that persists across steps (BatchNorm running statistics).
type Buffer struct {
	Name  string
	Value *tensor.Dense
}

// Store owns a network's parameters and buffers, in creation order.
type Store struct {
	Dtype   tensor.Dtype
	seed    uint64
	rng     *rand.Rand
	params  []*Param
	buffers []*Buffer
	byName  map[string]any
	ctx     context.Context // see Interrupt
}

// Interrupt makes graph building on s check ctx between layers: once ctx ends, Forward
// returns its error, so that the setup of a very deep network can be interrupted. nil
// (the default) never interrupts.
func (s *Store) Interrupt(ctx context.Context) { s.ctx = ctx }

// Err returns the error of the store's interrupting context, if it has ended.
func (s *Store) Err() error {
	if s.ctx == nil {
		return nil
	}
	return s.ctx.Err()
}

// NewStore returns an empty store whose new parameters are initialised from a generator seeded
// with seed (so identical seeds give identical networks).
func NewStore(dtype tensor.Dtype, seed uint64) *Store {
	return &Store{Dtype: dtype, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x6c776361)), byName: map[string]any{}}
}

// Seed is the seed the store was created with; layers that draw random numbers while
// training (Dropout) derive their streams from it.
func (s *Store) Seed() uint64 { return s.seed }

// Params returns the parameters in creation order.
func (s *Store) Params() []*Param { return s.params }

// Buffers returns the buffers in creation order.
func (s *Store) Buffers() []*Buffer { return s.buffers }

// Param returns the named parameter, or nil.
func (s *Store) Param(name string) *Param {
	p, _ := s.byName[name].(*Param)
	return p
}

// Buffer returns the named buffer, or nil.
func (s *Store) Buffer(name string) *Buffer {
	b, _ := s.byName[name].(*Buffer)
	return b
}

// Builder adds layers to one graph.
type Builder struct {
	Graph *G.ExprGraph
	Store *Store
	Mode  Mode
	// Batch is the number of samples per run of this graph.
	Batch int
	// Hooks receives one hook point per weighted layer (training graphs only).
	Hooks *hooks.Set
	// FreezeStats keeps normalisation layers from updating their running statistics in this
	// graph: analysis programs run training-mode passes that must not change the model.
	FreezeStats bool

	nodes    map[string]*G.Node
	buffers  map[string]bool // buffers this graph uses
	paramOrd []*G.Node
}

// NewExprGraph returns a new, empty Gorgonia graph.
func NewExprGraph() *G.ExprGraph { return G.NewGraph() }

// NewBuilder returns a builder for graph g in mode m, for batches of batch samples.
func NewBuilder(g *G.ExprGraph, store *Store, m Mode, batch int) *Builder {
	b := &Builder{Graph: g, Store: store, Mode: m, Batch: batch, nodes: map[string]*G.Node{}}
	if m == Train {
		b.Hooks = hooks.NewSet()
	}
	return b
}

// Training reports whether b builds a training graph.
func (b *Builder) Training() bool { return b.Mode == Train }

// Dtype is the element type of the graph.
func (b *Builder) Dtype() tensor.Dtype { return b.Store.Dtype }

// Input adds a named input node of the given shape.
func (b *Builder) Input(name string, shape ...int) *G.Node {
	t := tensor.New(tensor.Of(b.Store.Dtype), tensor.WithShape(shape...))
	return G.NewTensor(b.Graph, b.Store.Dtype, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(t))
}

// Initializer fills a new parameter. fanIn and fanOut are the layer's input and output widths.
type Initializer func(rng *rand.Rand, data []float64, fanIn, fanOut int)

// Param returns the graph node of the named parameter, creating and initialising it on first
// use. Later graphs bind the same tensor.
func (b *Builder) Param(layer, name string, role Role, shape []int, fanIn, fanOut int, init Initializer) (*G.Node, error) {
	full := layer + "." + name
	if n, ok := b.nodes[full]; ok {
		return nil, fmt.Errorf("graph: parameter %q is created twice in one graph (%v)", full, n.Shape())
	}
	p := b.Store.Param(full)
	if p == nil {
		if _, taken := b.Store.byName[full]; taken {
			return nil, fmt.Errorf("graph: name %q is already a buffer", full)
		}
		vals := make([]float64, product(shape))
		init(b.Store.rng, vals, fanIn, fanOut)
		p = &Param{Name: full, Layer: layer, Role: role, Value: denseFrom(b.Store.Dtype, shape, vals)}
		b.Store.params = append(b.Store.params, p)
		b.Store.byName[full] = p
	} else if !p.Value.Shape().Eq(tensor.Shape(shape)) {
		return nil, fmt.Errorf("graph: parameter %q has shape %v, layer asks for %v", full, p.Value.Shape(), shape)
	}
	n := G.NewTensor(b.Graph, b.Store.Dtype, len(shape), G.WithShape(shape...), G.WithName(full), G.WithValue(p.Value))
	b.nodes[full] = n
	b.paramOrd = append(b.paramOrd, n)
	return n, nil
}

// Buffer returns the named buffer's tensor, creating it filled with fill on first use. Asking
// twice in one graph is an error: two layers would share (and both update) the state.
func (b *Builder) Buffer(layer, name string, shape []int, fill float64) (*tensor.Dense, error) {
	full := layer + "." + name
	if b.buffers[full] {
		return nil, fmt.Errorf("graph: buffer %q is used twice in one graph (two layers named %q?)", full, layer)
	}
	if b.buffers == nil {
		b.buffers = map[string]bool{}
	}
	b.buffers[full] = true
	if buf := b.Store.Buffer(full); buf != nil {
		if !buf.Value.Shape().Eq(tensor.Shape(shape)) {
			return nil, fmt.Errorf("graph: buffer %q has shape %v, layer asks for %v", full, buf.Value.Shape(), shape)
		}
		return buf.Value, nil
	}
	if _, taken := b.Store.byName[full]; taken {
		return nil, fmt.Errorf("graph: name %q is already a parameter", full)
	}
	vals := make([]float64, product(shape))
	for i := range vals {
		vals[i] = fill
	}
	buf := &Buffer{Name: full, Value: denseFrom(b.Store.Dtype, shape, vals)}
	b.Store.buffers = append(b.Store.buffers, buf)
	b.Store.byName[full] = buf
	return buf.Value, nil
}

// ParamNodes returns this graph's parameter nodes, in the order the layers asked for them.
func (b *Builder) ParamNodes() []*G.Node { return b.paramOrd }

// ParamNode returns this graph's node of the named parameter, or nil.
func (b *Builder) ParamNode(name string) *G.Node { return b.nodes[name] }

// HookPoint registers the hook point of a weighted layer; nil in evaluation graphs.
func (b *Builder) HookPoint(layer string) (*hooks.Point, error) {
	if b.Hooks == nil {
		return nil, nil
	}
	return b.Hooks.Add(layer, b.Batch)
}

// TapInput wraps a weighted layer's 2-D input x (rows × d) in its hook tap. In evaluation
// graphs (p == nil) it returns x unchanged.
func (b *Builder) TapInput(p *hooks.Point, x *G.Node) (*G.Node, error) {
	if p == nil {
		return x, nil
	}
	return hooks.TapInput(p, x)
}

// TapOutput wraps a weighted layer's 2-D output h (rows × m) in its hook tap, whose backward
// half captures ∂L/∂h. In evaluation graphs (p == nil) it returns h unchanged.
func (b *Builder) TapOutput(p *hooks.Point, h *G.Node) (*G.Node, error) {
	if p == nil {
		return h, nil
	}
	return hooks.TapOutput(p, h)
}

func product(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func denseFrom(dt tensor.Dtype, shape []int, vals []float64) *tensor.Dense {
	switch dt {
	case tensor.Float32:
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
	case tensor.Float64:
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(vals))
	}
	panic(fmt.Sprintf("graph: unsupported dtype %v", dt))
}
