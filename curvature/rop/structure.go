package rop

// seq applies its nodes in order.
type seq[T num] struct{ nodes []node[T] }

func (s *seq[T]) forward(x []T) []T {
	for _, n := range s.nodes {
		x = n.forward(x)
	}
	return x
}

func (s *seq[T]) backward(g []T, need bool) []T {
	for i := len(s.nodes) - 1; i >= 0; i-- {
		g = s.nodes[i].backward(g, need || i > 0)
	}
	return g
}

func (s *seq[T]) tangent(rx []T) []T {
	for _, n := range s.nodes {
		rx = n.tangent(rx)
	}
	return rx
}

// rbackward stops at the lowest layer with a direction unless the input's tangent is needed:
// the layers below it contribute nothing to the selected block.
func (s *seq[T]) rbackward(rg []T, need bool) []T {
	low := len(s.nodes)
	for i, n := range s.nodes {
		if n.selected() {
			low = i
			break
		}
	}
	if need {
		low = 0
	}
	for i := len(s.nodes) - 1; i >= low; i-- {
		rg = s.nodes[i].rbackward(rg, need || i > low)
	}
	if !need {
		return nil
	}
	return rg
}

func (s *seq[T]) selected() bool {
	for _, n := range s.nodes {
		if n.selected() {
			return true
		}
	}
	return false
}

// residual is y = body(x) + shortcut(x), a nil shortcut the identity.
type residual[T num] struct {
	body, shortcut node[T]
	out, gin, rout []T
	rgin           []T
}

func (r *residual[T]) forward(x []T) []T {
	y := r.body.forward(x)
	s := x
	if r.shortcut != nil {
		s = r.shortcut.forward(x)
	}
	r.out = resize(r.out, len(y))
	for i := range y {
		r.out[i] = y[i] + s[i]
	}
	return r.out
}

// both runs a pass through the body and the shortcut from the same output-side value v and
// sums what they return; nil stands for zero.
func (r *residual[T]) both(v []T, buf *[]T, pass func(n node[T], v []T) []T) []T {
	a := pass(r.body, v)
	b := v
	if r.shortcut != nil {
		b = pass(r.shortcut, v)
	}
	return sum(buf, a, b)
}

func (r *residual[T]) backward(g []T, need bool) []T {
	out := r.both(g, &r.gin, func(n node[T], v []T) []T { return n.backward(v, need) })
	if !need {
		return nil
	}
	return out
}

func (r *residual[T]) tangent(rx []T) []T {
	return r.both(rx, &r.rout, func(n node[T], v []T) []T { return n.tangent(v) })
}

func (r *residual[T]) rbackward(rg []T, need bool) []T {
	out := r.both(rg, &r.rgin, func(n node[T], v []T) []T {
		if !need && !n.selected() {
			return nil
		}
		return n.rbackward(v, need)
	})
	if !need {
		return nil
	}
	return out
}

func (r *residual[T]) selected() bool {
	return r.body.selected() || (r.shortcut != nil && r.shortcut.selected())
}

// sum returns a + b in *buf, nil standing for zero.
func sum[T num](buf *[]T, a, b []T) []T {
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil:
		a, b = b, a
	}
	*buf = resize(*buf, len(a))
	copy(*buf, a)
	if b != nil {
		for i, v := range b {
			(*buf)[i] += v
		}
	}
	return *buf
}
