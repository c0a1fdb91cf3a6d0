package rop

import (
	"fmt"
	"slices"

	"github.com/lwca/lwca/graph"
)

// compiler turns graph layers into nodes, tracking the activations' shapes.
type compiler[T num] struct {
	store *graph.Store
	prog  *Program[T]
}

// param returns the slot of the named parameter, creating it on first use.
func (c *compiler[T]) param(layer, name string, size int) (*slot[T], error) {
	p := c.store.Param(layer + "." + name)
	if p == nil {
		return nil, fmt.Errorf("rop: the store has no parameter %s.%s", layer, name)
	}
	if p.Value.Size() != size {
		return nil, fmt.Errorf("rop: parameter %s has %d values, the layer needs %d", p.Name, p.Value.Size(), size)
	}
	if s, ok := c.prog.byParam[p]; ok {
		return s, nil
	}
	s := &slot[T]{p: p, w: make([]T, size), grad: make([]T, size)}
	c.prog.slots = append(c.prog.slots, s)
	c.prog.byParam[p] = s
	return s, nil
}

func unsupported(l graph.Layer) error {
	return fmt.Errorf("rop: layer %T: %w", l, ErrUnsupported)
}

// layer compiles l for input shape in; a nil node is the identity (a view or Identity).
func (c *compiler[T]) layer(l graph.Layer, in []int) (node[T], []int, error) {
	switch l := l.(type) {
	case nil:
		return nil, in, nil
	case graph.Sequential:
		s := &seq[T]{}
		for i, sub := range l {
			nd, out, err := c.layer(sub, in)
			if err != nil {
				return nil, nil, fmt.Errorf("layer %d: %w", i, err)
			}
			if nd != nil {
				s.nodes = append(s.nodes, nd)
			}
			in = out
		}
		return s, in, nil
	case graph.Residual:
		body, bout, err := c.layer(l.Body, in)
		if err != nil {
			return nil, nil, err
		}
		sc, sout, err := c.layer(l.Shortcut, in)
		if err != nil {
			return nil, nil, err
		}
		if !slices.Equal(bout, sout) {
			return nil, nil, fmt.Errorf("rop: residual body gives %v, shortcut %v", bout, sout)
		}
		return &residual[T]{body: orIdentity(body), shortcut: sc}, bout, nil
	case graph.Flatten:
		return nil, []int{in[0], size(in) / in[0]}, nil
	case graph.Image:
		if size(in) != in[0]*l.H*l.W*l.C {
			return nil, nil, fmt.Errorf("rop: image %d×%d×%d of input %v", l.H, l.W, l.C, in)
		}
		return nil, []int{in[0], l.H, l.W, l.C}, nil
	case graph.Activation:
		switch l {
		case graph.Identity:
			return nil, in, nil
		case graph.ReLU:
			return &activation[T]{kind: relu}, in, nil
		case graph.Tanh:
			return &activation[T]{kind: tanh}, in, nil
		case graph.Sigmoid:
			return &activation[T]{kind: sigmoid}, in, nil
		}
		return nil, nil, unsupported(l)
	case graph.LeakyReLU:
		s := l.Slope
		if s == 0 {
			s = graph.DefaultLeakySlope
		}
		return &activation[T]{kind: leaky, slope: T(s)}, in, nil
	case *graph.Linear:
		if len(in) != 2 || in[1] != l.In {
			return nil, nil, fmt.Errorf("rop: %s: input %v, expected (rows, %d)", l.Name, in, l.In)
		}
		cv := conv[T]{g: geom{n: in[0], h: 1, w: 1, c: l.In, kh: 1, kw: 1, s: 1, oh: 1, ow: 1, cout: l.Out}}
		nd, err := c.weighted(&cv, l.Name, l.Bias)
		return nd, []int{in[0], l.Out}, err
	case *graph.Conv2d:
		if l.Groups > 1 {
			return nil, nil, unsupported(l)
		}
		if len(in) != 4 || in[3] != l.In {
			return nil, nil, fmt.Errorf("rop: %s: input %v, expected (N, H, W, %d)", l.Name, in, l.In)
		}
		st := max(l.Stride, 1)
		g := geom{n: in[0], h: in[1], w: in[2], c: l.In, kh: l.KH, kw: l.KW, s: st, p: l.Pad, cout: l.Out}
		g.oh, g.ow = (g.h+2*g.p-g.kh)/st+1, (g.w+2*g.p-g.kw)/st+1
		if g.oh < 1 || g.ow < 1 {
			return nil, nil, fmt.Errorf("rop: %s: kernel does not fit input %v", l.Name, in)
		}
		cv := conv[T]{g: g}
		nd, err := c.weighted(&cv, l.Name, l.Bias)
		return nd, []int{g.n, g.oh, g.ow, g.cout}, err
	case *graph.BatchNorm:
		if in[len(in)-1] != l.C {
			return nil, nil, fmt.Errorf("rop: %s: input %v, expected %d features last", l.Name, in, l.C)
		}
		eps := l.Eps
		if eps == 0 {
			eps = 1e-5
		}
		b := &batchNorm[T]{c: l.C, eps: eps}
		var err error
		if b.gamma, err = c.param(l.Name, "scale", l.C); err != nil {
			return nil, nil, err
		}
		if b.beta, err = c.param(l.Name, "shift", l.C); err != nil {
			return nil, nil, err
		}
		return b, in, nil
	case graph.GlobalAvgPool:
		if len(in) != 4 {
			return nil, nil, fmt.Errorf("rop: global average pool of input %v", in)
		}
		p := pool{n: in[0], h: in[1], w: in[2], c: in[3], kh: in[1], kw: in[2], s: 1, oh: 1, ow: 1}
		return &linear[T]{m: &pooling[T]{g: p}}, []int{in[0], in[3]}, nil
	case graph.AvgPool2d:
		return c.pool(in, l.Kernel, l.Stride, false)
	case graph.MaxPool2d:
		return c.pool(in, l.Kernel, l.Stride, true)
	case graph.ShortcutA:
		if len(in) != 4 || in[3] != l.In || l.Out < l.In {
			return nil, nil, fmt.Errorf("rop: shortcut %d→%d of input %v", l.In, l.Out, in)
		}
		st := max(l.Stride, 1)
		if st == 1 && l.In == l.Out {
			return nil, in, nil
		}
		s := shortcut{n: in[0], h: in[1], w: in[2], cin: l.In, cout: l.Out, s: st, lo: (l.Out - l.In) / 2}
		s.oh, s.ow = (s.h+st-1)/st, (s.w+st-1)/st
		return &linear[T]{m: &shortcutA[T]{g: s}}, []int{s.n, s.oh, s.ow, s.cout}, nil
	}
	return nil, nil, unsupported(l)
}

func (c *compiler[T]) weighted(cv *conv[T], name string, bias bool) (node[T], error) {
	var err error
	if cv.w, err = c.param(name, "weight", cv.g.k()*cv.g.cout); err != nil {
		return nil, err
	}
	if bias {
		if cv.b, err = c.param(name, "bias", cv.g.cout); err != nil {
			return nil, err
		}
	}
	return cv, nil
}

func (c *compiler[T]) pool(in []int, k, stride int, isMax bool) (node[T], []int, error) {
	if stride == 0 {
		stride = k
	}
	if len(in) != 4 || k < 1 || stride < 1 || k > in[1] || k > in[2] {
		return nil, nil, fmt.Errorf("rop: pooling window %d stride %d of input %v", k, stride, in)
	}
	p := pool{n: in[0], h: in[1], w: in[2], c: in[3], kh: k, kw: k, s: stride}
	p.oh, p.ow = (p.h-k)/stride+1, (p.w-k)/stride+1
	out := []int{p.n, p.oh, p.ow, p.c}
	if isMax {
		return &linear[T]{m: &maxPool[T]{g: p}}, out, nil
	}
	return &linear[T]{m: &pooling[T]{g: p}}, out, nil
}

func orIdentity[T num](n node[T]) node[T] {
	if n == nil {
		return &seq[T]{}
	}
	return n
}

func size(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
