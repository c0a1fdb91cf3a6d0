package rop

import "github.com/lwca/lwca/backend"

// geom is a convolution's shape arithmetic over channels-last (n, h, w, c) input; a linear
// layer is the 1×1 convolution of a 1×1 image.
type geom struct {
	n, h, w, c   int
	kh, kw, s, p int
	oh, ow, cout int
}

func (g geom) k() int { return g.kh * g.kw * g.c }

// direct reports whether the patch matrix is the input itself.
func (g geom) direct() bool { return g.kh == 1 && g.kw == 1 && g.s == 1 && g.p == 0 }

// conv is the weighted layer h = P·W + b, P the patch matrix of x (graph.Conv2d's layout: row
// (u·kw + v)·c + channel of W for kernel offset (u, v)). It is bilinear in (x, W), so
// R{h} = R{P} W + P V + R{b}, ∂L/∂P = g Wᵀ, ∂L/∂W = Pᵀ g, and
// R{∂L/∂P} = R{g} Wᵀ + g Vᵀ, H v for W = R{P}ᵀ g + Pᵀ R{g}.
// Patch matrices are built a few images at a time, never whole.
type conv[T num] struct {
	g          geom
	w, b       *slot[T]
	x, gy, rx  []T
	out, gin   []T
	rout, rgin []T
	p, rp, gp  []T // patch buffers of one chunk
}

// chunk is the number of images whose patches are built at once (about 1M values).
func (cv *conv[T]) chunk() int {
	per := cv.g.oh * cv.g.ow * cv.g.k()
	return max(1, min(cv.g.n, (1<<20)/max(per, 1)))
}

// patches returns the patch matrix of images i0 … i1 of x, in buf unless it is x itself.
func (cv *conv[T]) patches(buf *[]T, x []T, i0, i1 int) []T {
	g := cv.g
	if g.direct() {
		return x[i0*g.h*g.w*g.c : i1*g.h*g.w*g.c]
	}
	k := g.k()
	*buf = resize(*buf, (i1-i0)*g.oh*g.ow*k)
	im2col(g, x, *buf, i0, i1)
	return *buf
}

// each runs f over the chunks: images i0 … i1, their output rows r0 … r1.
func (cv *conv[T]) each(f func(i0, i1, r0, r1 int)) {
	per := cv.g.oh * cv.g.ow
	step := cv.chunk()
	for i0 := 0; i0 < cv.g.n; i0 += step {
		i1 := min(i0+step, cv.g.n)
		f(i0, i1, i0*per, i1*per)
	}
}

func (cv *conv[T]) forward(x []T) []T {
	cv.x = x
	g := cv.g
	m, k := g.cout, g.k()
	cv.out = resize(cv.out, g.n*g.oh*g.ow*m)
	cv.each(func(i0, i1, r0, r1 int) {
		p := cv.patches(&cv.p, x, i0, i1)
		backend.Gemm(false, false, r1-r0, m, k, 1, p, k, cv.w.w, m, 0, cv.out[r0*m:r1*m], m)
	})
	if cv.b != nil {
		addBias(cv.out, cv.b.w)
	}
	return cv.out
}

func (cv *conv[T]) backward(gy []T, need bool) []T {
	cv.gy = gy
	g := cv.g
	m, k := g.cout, g.k()
	if need {
		cv.gin = zeros(&cv.gin, g.n*g.h*g.w*g.c)
	}
	cv.each(func(i0, i1, r0, r1 int) {
		p := cv.patches(&cv.p, cv.x, i0, i1)
		gc := gy[r0*m : r1*m]
		backend.Gemm(true, false, k, m, r1-r0, 1, p, k, gc, m, 1, cv.w.grad, m)
		if need {
			cv.scatter(cv.gin, i0, i1, gc, cv.w.w, nil, nil)
		}
	})
	if cv.b != nil {
		sumRows(cv.b.grad, gy)
	}
	if !need {
		return nil
	}
	return cv.gin
}

// scatter adds d₁W₁ᵀ (+ d₂W₂ᵀ when d₂ is not nil), the gradient of the patch rows of images
// i0 … i1 given the gradient d of their output rows, to those images in dx.
func (cv *conv[T]) scatter(dx []T, i0, i1 int, d1, w1, d2, w2 []T) {
	g := cv.g
	m, k := g.cout, g.k()
	rows := (i1 - i0) * g.oh * g.ow
	if g.direct() {
		dst := dx[i0*g.h*g.w*g.c : i1*g.h*g.w*g.c]
		backend.Gemm(false, true, rows, k, m, 1, d1, m, w1, m, 1, dst, k)
		if d2 != nil {
			backend.Gemm(false, true, rows, k, m, 1, d2, m, w2, m, 1, dst, k)
		}
		return
	}
	cv.gp = resize(cv.gp, rows*k)
	backend.Gemm(false, true, rows, k, m, 1, d1, m, w1, m, 0, cv.gp, k)
	if d2 != nil {
		backend.Gemm(false, true, rows, k, m, 1, d2, m, w2, m, 1, cv.gp, k)
	}
	col2im(g, cv.gp, dx, i0, i1)
}

func (cv *conv[T]) tangent(rx []T) []T {
	cv.rx = rx
	if rx == nil && !cv.selected() {
		return nil
	}
	g := cv.g
	m, k := g.cout, g.k()
	cv.rout = zeros(&cv.rout, g.n*g.oh*g.ow*m)
	cv.each(func(i0, i1, r0, r1 int) {
		dst := cv.rout[r0*m : r1*m]
		if rx != nil {
			backend.Gemm(false, false, r1-r0, m, k, 1, cv.patches(&cv.rp, rx, i0, i1), k, cv.w.w, m, 0, dst, m)
		}
		if cv.w.on {
			backend.Gemm(false, false, r1-r0, m, k, 1, cv.patches(&cv.p, cv.x, i0, i1), k, cv.w.dir, m, 1, dst, m)
		}
	})
	if cv.b != nil && cv.b.on {
		addBias(cv.rout, cv.b.dir)
	}
	return cv.rout
}

func (cv *conv[T]) rbackward(rg []T, need bool) []T {
	g := cv.g
	m, k := g.cout, g.k()
	if rg == nil {
		rg = make([]T, len(cv.gy))
	}
	if need {
		cv.rgin = zeros(&cv.rgin, g.n*g.h*g.w*g.c)
	}
	cv.each(func(i0, i1, r0, r1 int) {
		gc, rgc := cv.gy[r0*m:r1*m], rg[r0*m:r1*m]
		if cv.w.on {
			backend.Gemm(true, false, k, m, r1-r0, 1, cv.patches(&cv.p, cv.x, i0, i1), k, rgc, m, 1, cv.w.hv, m)
			if cv.rx != nil {
				backend.Gemm(true, false, k, m, r1-r0, 1, cv.patches(&cv.rp, cv.rx, i0, i1), k, gc, m, 1, cv.w.hv, m)
			}
		}
		if !need {
			return
		}
		// R{∂L/∂P} = R{g} Wᵀ + g Vᵀ, then back to the images.
		if cv.w.on {
			cv.scatter(cv.rgin, i0, i1, rgc, cv.w.w, gc, cv.w.dir)
		} else {
			cv.scatter(cv.rgin, i0, i1, rgc, cv.w.w, nil, nil)
		}
	})
	if cv.b != nil && cv.b.on {
		sumRows(cv.b.hv, rg)
	}
	if !need {
		return nil
	}
	return cv.rgin
}

func (cv *conv[T]) selected() bool { return cv.w.on || (cv.b != nil && cv.b.on) }

// im2col writes the patch rows of images i0 … i1 of x into p.
func im2col[T num](g geom, x, p []T, i0, i1 int) {
	seg := g.kw * g.c
	r := 0
	for i := i0; i < i1; i++ {
		img := x[i*g.h*g.w*g.c : (i+1)*g.h*g.w*g.c]
		for oi := range g.oh {
			for oj := range g.ow {
				row := p[r*g.k() : (r+1)*g.k()]
				r++
				for u := range g.kh {
					dst := row[u*seg : (u+1)*seg]
					ii := oi*g.s - g.p + u
					if ii < 0 || ii >= g.h {
						clear(dst)
						continue
					}
					j0 := oj*g.s - g.p
					if j0 >= 0 && j0+g.kw <= g.w {
						copy(dst, img[(ii*g.w+j0)*g.c:(ii*g.w+j0+g.kw)*g.c])
						continue
					}
					for v := range g.kw {
						jj := j0 + v
						d := dst[v*g.c : (v+1)*g.c]
						if jj < 0 || jj >= g.w {
							clear(d)
						} else {
							copy(d, img[(ii*g.w+jj)*g.c:(ii*g.w+jj+1)*g.c])
						}
					}
				}
			}
		}
	}
}

// col2im adds the patch rows p of images i0 … i1 back into the images' gradient dx (the
// adjoint of im2col).
func col2im[T num](g geom, p, dx []T, i0, i1 int) {
	r := 0
	for i := i0; i < i1; i++ {
		img := dx[i*g.h*g.w*g.c : (i+1)*g.h*g.w*g.c]
		for oi := range g.oh {
			for oj := range g.ow {
				row := p[r*g.k() : (r+1)*g.k()]
				r++
				for u := range g.kh {
					ii := oi*g.s - g.p + u
					if ii < 0 || ii >= g.h {
						continue
					}
					for v := range g.kw {
						jj := oj*g.s - g.p + v
						if jj < 0 || jj >= g.w {
							continue
						}
						d := img[(ii*g.w+jj)*g.c : (ii*g.w+jj+1)*g.c]
						s := row[(u*g.kw+v)*g.c : (u*g.kw+v+1)*g.c]
						for t, v := range s {
							d[t] += v
						}
					}
				}
			}
		}
	}
}

func addBias[T num](y, b []T) {
	for i := range y {
		y[i] += b[i%len(b)]
	}
}

func sumRows[T num](dst, y []T) {
	acc := make([]float64, len(dst))
	for i, v := range y {
		acc[i%len(dst)] += float64(v)
	}
	for i, v := range acc {
		dst[i] += T(v)
	}
}
