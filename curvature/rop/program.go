package rop

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/lwca/lwca/graph"
)

// ErrUnsupported is wrapped by Compile's error when the network holds a layer without an
// R-operator.
var ErrUnsupported = errors.New("no exact Hessian-vector product for this layer")

// num is the arithmetic's precision.
type num interface{ float32 | float64 }

// node is one layer's four passes. Activations are flat, channels last, as the graph's.
type node[T num] interface {
	// forward computes the output at θ and keeps what the other passes need.
	forward(x []T) []T
	// backward maps ∂L/∂y to ∂L/∂x (nil when need is false: no layer below wants it) and
	// accumulates the parameters' gradients.
	backward(g []T, need bool) []T
	// tangent maps R{x} to R{y} given the parameters' directions; nil stands for zero.
	tangent(rx []T) []T
	// rbackward maps R{∂L/∂y} to R{∂L/∂x} (nil when need is false) and accumulates H v
	// into the parameters' slots.
	rbackward(rg []T, need bool) []T
	// selected reports whether a parameter of the layer has a direction.
	selected() bool
}

// slot is one parameter of the network in the program's precision.
type slot[T num] struct {
	p       *graph.Param
	w, grad []T
	dir, hv []T
	on      bool // dir holds a direction (otherwise it is zero)
}

func (s *slot[T]) load() {
	switch d := s.p.Value.Data().(type) {
	case []float32:
		for i, v := range d {
			s.w[i] = T(v)
		}
	case []float64:
		for i, v := range d {
			s.w[i] = T(v)
		}
	}
}

// Program is a compiled network on a batch of fixed size.
type Program[T num] struct {
	root    node[T]
	slots   []*slot[T]
	byParam map[*graph.Param]*slot[T]
	n, dim  int
	classes int

	x, z, p []T // input, logits, softmax at θ
	y       []int32
	loss    float64
	ready   bool
}

// Compile builds the program of net, whose parameters live in store (any dtype; they are
// read, converted to T, by each Prepare), for batches of n inputs of width dim.
func Compile[T num](net graph.Layer, store *graph.Store, n, dim int) (*Program[T], error) {
	if n < 1 || dim < 1 {
		return nil, fmt.Errorf("rop: batch of %d inputs of width %d", n, dim)
	}
	p := &Program[T]{byParam: map[*graph.Param]*slot[T]{}, n: n, dim: dim}
	c := &compiler[T]{store: store, prog: p}
	root, out, err := c.layer(net, []int{n, dim})
	if err != nil {
		return nil, err
	}
	if len(out) != 2 || out[0] != n {
		return nil, fmt.Errorf("rop: the network's output has shape %v, want (%d, classes)", out, n)
	}
	p.root, p.classes = root, out[1]
	return p, nil
}

// Prepare reads the parameters from the store and runs the forward and backward passes at
// them on the batch x (n × dim, row-major) with labels y; the products then differentiate
// around this point until the next Prepare.
func (p *Program[T]) Prepare(x []float32, y []int32) error {
	if len(x) != p.n*p.dim || len(y) != p.n {
		return fmt.Errorf("rop: %d inputs and %d labels for a batch of %d × %d", len(x), len(y), p.n, p.dim)
	}
	for i, l := range y {
		if l < 0 || int(l) >= p.classes {
			return fmt.Errorf("rop: sample %d has label %d, expected 0 … %d", i, l, p.classes-1)
		}
	}
	for _, s := range p.slots {
		s.load()
		clear(s.grad)
	}
	p.x = resize(p.x, len(x))
	for i, v := range x {
		p.x[i] = T(v)
	}
	p.y = slices.Clone(y)
	p.z = p.root.forward(p.x)
	p.p = resize(p.p, len(p.z))
	g := make([]T, len(p.z))
	c, inv := p.classes, 1/float64(p.n)
	p.loss = 0
	for i := range p.n {
		zi, pi := p.z[i*c:(i+1)*c], p.p[i*c:(i+1)*c]
		mx := float64(slices.Max(zi))
		s := 0.0
		for k, v := range zi {
			e := math.Exp(float64(v) - mx)
			pi[k] = T(e)
			s += e
		}
		for k := range pi {
			pi[k] = T(float64(pi[k]) / s)
			g[i*c+k] = T(float64(pi[k]) * inv)
		}
		g[i*c+int(y[i])] -= T(inv)
		p.loss += (mx + math.Log(s) - float64(zi[y[i]])) * inv
	}
	p.root.backward(g, false)
	p.ready = true
	return nil
}

// Loss is the mean cross-entropy at the last Prepare.
func (p *Program[T]) Loss() float64 { return p.loss }

// params returns the slots of params, refusing parameters the network does not use.
func (p *Program[T]) params(params []*graph.Param) ([]*slot[T], error) {
	if !p.ready {
		return nil, errors.New("rop: Prepare has not run")
	}
	out := make([]*slot[T], len(params))
	for i, q := range params {
		s, ok := p.byParam[q]
		if !ok {
			return nil, fmt.Errorf("rop: parameter %s is not in the network", q.Name)
		}
		out[i] = s
	}
	return out, nil
}

// Gradient sets dst to ∇L at the last Prepare for params, concatenated in their order.
func (p *Program[T]) Gradient(params []*graph.Param, dst []float64) error {
	slots, err := p.params(params)
	if err != nil {
		return err
	}
	return gather(slots, dst, func(s *slot[T]) []T { return s.grad })
}

// HVP sets dst to H_SS v, the block of the Hessian of L at the last Prepare over the
// parameters S = params, v and dst their values concatenated in that order.
func (p *Program[T]) HVP(params []*graph.Param, dst, v []float64) error {
	slots, err := p.params(params)
	if err != nil {
		return err
	}
	size := 0
	for _, s := range slots {
		size += len(s.w)
	}
	if len(v) != size || len(dst) != size {
		return fmt.Errorf("rop: product of a %d-vector into %d values over %d parameter values", len(v), len(dst), size)
	}
	for _, s := range p.slots {
		s.on = false
	}
	off := 0
	for _, s := range slots {
		if s.on {
			return fmt.Errorf("rop: parameter %s is selected twice", s.p.Name)
		}
		s.on = true
		s.dir = resize(s.dir, len(s.w))
		s.hv = resize(s.hv, len(s.w))
		for i := range s.dir {
			s.dir[i] = T(v[off+i])
		}
		clear(s.hv)
		off += len(s.w)
	}
	rz := p.root.tangent(nil)
	var rg []T
	if rz != nil {
		// R{∂L/∂z} = (1/N)(diag(pᵢ) − pᵢpᵢᵀ) R{zᵢ} row by row.
		rg = make([]T, len(rz))
		c := p.classes
		for i := range p.n {
			pi, ri := p.p[i*c:(i+1)*c], rz[i*c:(i+1)*c]
			s := 0.0
			for k := range pi {
				s += float64(pi[k]) * float64(ri[k])
			}
			for k := range pi {
				rg[i*c+k] = T(float64(pi[k]) * (float64(ri[k]) - s) / float64(p.n))
			}
		}
	}
	p.root.rbackward(rg, false)
	return gather(slots, dst, func(s *slot[T]) []T { return s.hv })
}

func gather[T num](slots []*slot[T], dst []float64, f func(*slot[T]) []T) error {
	off := 0
	for _, s := range slots {
		src := f(s)
		if off+len(src) > len(dst) {
			return fmt.Errorf("rop: %d values for parameters of %d or more", len(dst), off+len(src))
		}
		for i, v := range src {
			dst[off+i] = float64(v)
		}
		off += len(src)
	}
	return nil
}

// resize returns s with length n, reusing its storage when it is large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// zeros returns a zeroed slice of length n reusing *buf.
func zeros[T num](buf *[]T, n int) []T {
	*buf = resize(*buf, n)
	clear(*buf)
	return *buf
}
