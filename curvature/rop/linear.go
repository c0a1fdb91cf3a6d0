package rop

// linMap is a parameter-free layer that is linear once forward has run (max pooling's
// winners are then fixed): its tangent is the map itself, its gradients the adjoint.
type linMap[T num] interface {
	sizes() (in, out int)
	forward(x, y []T)
	apply(x, y []T)
	adjoint(g, dx []T) // adds into dx
}

// linear is the node of a linMap.
type linear[T num] struct {
	m          linMap[T]
	out, gin   []T
	rout, rgin []T
}

func (l *linear[T]) forward(x []T) []T {
	_, n := l.m.sizes()
	l.out = resize(l.out, n)
	l.m.forward(x, l.out)
	return l.out
}

func (l *linear[T]) backward(g []T, need bool) []T {
	if !need {
		return nil
	}
	n, _ := l.m.sizes()
	l.gin = zeros(&l.gin, n)
	l.m.adjoint(g, l.gin)
	return l.gin
}

func (l *linear[T]) tangent(rx []T) []T {
	if rx == nil {
		return nil
	}
	_, n := l.m.sizes()
	l.rout = resize(l.rout, n)
	l.m.apply(rx, l.rout)
	return l.rout
}

func (l *linear[T]) rbackward(rg []T, need bool) []T {
	if !need || rg == nil {
		return nil
	}
	n, _ := l.m.sizes()
	l.rgin = zeros(&l.rgin, n)
	l.m.adjoint(rg, l.rgin)
	return l.rgin
}

func (l *linear[T]) selected() bool { return false }

// pool is a pooling window's geometry over channels-last (n, h, w, c) input.
type pool struct {
	n, h, w, c int
	kh, kw, s  int
	oh, ow     int
}

func (p pool) sizes() (int, int) { return p.n * p.h * p.w * p.c, p.n * p.oh * p.ow * p.c }

// each calls f for every output element o and each input element i of its window, in the
// window's row-major order.
func (p pool) each(f func(o, i int, first bool)) {
	o := 0
	for n := range p.n {
		for oi := range p.oh {
			for oj := range p.ow {
				for ch := range p.c {
					for u := range p.kh {
						for v := range p.kw {
							i := ((n*p.h+oi*p.s+u)*p.w+oj*p.s+v)*p.c + ch
							f(o, i, u == 0 && v == 0)
						}
					}
					o++
				}
			}
		}
	}
}

// pooling is average pooling (global when the window is the image).
type pooling[T num] struct{ g pool }

func (a *pooling[T]) sizes() (int, int) { return a.g.sizes() }

func (a *pooling[T]) forward(x, y []T) { a.apply(x, y) }

func (a *pooling[T]) apply(x, y []T) {
	acc := make([]float64, len(y))
	a.g.each(func(o, i int, _ bool) { acc[o] += float64(x[i]) })
	inv := 1 / float64(a.g.kh*a.g.kw)
	for o, v := range acc {
		y[o] = T(v * inv)
	}
}

func (a *pooling[T]) adjoint(g, dx []T) {
	inv := 1 / T(a.g.kh*a.g.kw)
	a.g.each(func(o, i int, _ bool) { dx[i] += g[o] * inv })
}

// maxPool is max pooling: linear given each window's winner, the first maximum (as the
// graph's gradient chooses).
type maxPool[T num] struct {
	g    pool
	from []int // winner of each output
}

func (m *maxPool[T]) sizes() (int, int) { return m.g.sizes() }

func (m *maxPool[T]) forward(x, y []T) {
	m.from = resize(m.from, len(y))
	m.g.each(func(o, i int, first bool) {
		if first || x[i] > x[m.from[o]] {
			m.from[o] = i
		}
	})
	m.apply(x, y)
}

func (m *maxPool[T]) apply(x, y []T) {
	for o, i := range m.from {
		y[o] = x[i]
	}
}

func (m *maxPool[T]) adjoint(g, dx []T) {
	for o, i := range m.from {
		dx[i] += g[o]
	}
}

// shortcut is option A's geometry: every s-th row and column, channels padded from cin to
// cout with lo zero channels before.
type shortcut struct {
	n, h, w, cin int
	cout, s, lo  int
	oh, ow       int
}

type shortcutA[T num] struct{ g shortcut }

func (a *shortcutA[T]) sizes() (int, int) {
	g := a.g
	return g.n * g.h * g.w * g.cin, g.n * g.oh * g.ow * g.cout
}

// each calls f with the offsets of every kept input pixel and of its output pixel.
func (a *shortcutA[T]) each(f func(in, out int)) {
	g := a.g
	for n := range g.n {
		for oi := range g.oh {
			for oj := range g.ow {
				f(((n*g.h+oi*g.s)*g.w+oj*g.s)*g.cin, ((n*g.oh+oi)*g.ow+oj)*g.cout+g.lo)
			}
		}
	}
}

func (a *shortcutA[T]) forward(x, y []T) { a.apply(x, y) }

func (a *shortcutA[T]) apply(x, y []T) {
	clear(y)
	a.each(func(in, out int) { copy(y[out:out+a.g.cin], x[in:in+a.g.cin]) })
}

func (a *shortcutA[T]) adjoint(g, dx []T) {
	a.each(func(in, out int) {
		for c := range a.g.cin {
			dx[in+c] += g[out+c]
		}
	})
}
