package rop

import (
	"math"
)

type actKind int

const (
	relu actKind = iota
	leaky
	tanh
	sigmoid
)

// activation is y = φ(x) element by element: ∂L/∂x = φ'(x)·g, and its tangent
// R{∂L/∂x} = φ'(x)·R{g} + φ”(x)·R{x}·g.
type activation[T num] struct {
	kind       actKind
	slope      T
	x, g       []T
	mask       []T // ReLU: 1 where x > 0, else 0
	rx         []T
	out, gin   []T
	rout, rgin []T
}

// d1 and d2 are φ' and φ” at element i.
func (a *activation[T]) d1(i int) T {
	switch a.kind {
	case relu:
		if a.x[i] > 0 {
			return 1
		}
		return 0
	case leaky:
		if a.x[i] > 0 {
			return 1
		}
		return a.slope
	case tanh:
		return 1 - a.out[i]*a.out[i]
	}
	return a.out[i] * (1 - a.out[i])
}

func (a *activation[T]) d2(i int) T {
	switch a.kind {
	case tanh:
		return -2 * a.out[i] * (1 - a.out[i]*a.out[i])
	case sigmoid:
		y := a.out[i]
		return y * (1 - y) * (1 - 2*y)
	}
	return 0
}

func (a *activation[T]) forward(x []T) []T {
	a.x = x
	a.out = resize(a.out, len(x))
	for i, v := range x {
		switch a.kind {
		case relu:
			a.out[i] = max(v, 0)
		case leaky:
			if v > 0 {
				a.out[i] = v
			} else {
				a.out[i] = a.slope * v
			}
		case tanh:
			a.out[i] = T(math.Tanh(float64(v)))
		case sigmoid:
			a.out[i] = T(1 / (1 + math.Exp(-float64(v))))
		}
	}
	if a.kind == relu {
		a.mask = resize(a.mask, len(x))
		for i, v := range x {
			a.mask[i] = 0
			if v > 0 {
				a.mask[i] = 1
			}
		}
	}
	return a.out
}

func (a *activation[T]) backward(g []T, need bool) []T {
	a.g = g
	if !need {
		return nil
	}
	a.gin = resize(a.gin, len(g))
	a.gate(a.gin, g)
	return a.gin
}

func (a *activation[T]) tangent(rx []T) []T {
	a.rx = rx
	if rx == nil {
		return nil
	}
	a.rout = resize(a.rout, len(rx))
	a.gate(a.rout, rx)
	return a.rout
}

// gate sets dst = φ'(x)·v.
func (a *activation[T]) gate(dst, v []T) {
	if a.kind == relu { // the common case: a product with the 0/1 mask, without branches
		for i, m := range a.mask {
			dst[i] = m * v[i]
		}
		return
	}
	for i, u := range v {
		dst[i] = a.d1(i) * u
	}
}

func (a *activation[T]) rbackward(rg []T, need bool) []T {
	if !need {
		return nil
	}
	a.rgin = zeros(&a.rgin, len(a.x))
	if rg != nil {
		a.gate(a.rgin, rg)
	}
	if a.rx != nil && (a.kind == tanh || a.kind == sigmoid) {
		for i, v := range a.rx {
			a.rgin[i] += a.d2(i) * v * a.g[i]
		}
	}
	return a.rgin
}

func (a *activation[T]) selected() bool { return false }

// batchNorm normalises each of c features over the rows with the batch's statistics:
// x̂ = (x − μ)·s, s = 1/√(σ² + ε), y = γ x̂ + β. With gx̂ = γ g, a = mean gx̂, b = mean gx̂ x̂,
// ∂L/∂x = s (gx̂ − a − x̂ b). The tangents differentiate these formulas: R{s}/s = −s² cov(x, R{x})
// = −s·mean(x̂ R{x}), R{x̂} = s (R{x} − mean R{x}) + x̂ R{s}/s, and
// R{∂L/∂x} = R{s}(gx̂ − a − x̂ b) + s (R{gx̂} − R{a} − R{x̂} b − x̂ R{b}).
// Sums over rows accumulate in float64.
type batchNorm[T num] struct {
	c           int
	eps         float64
	gamma, beta *slot[T]

	xhat, g    []T
	s, a, b    []float64 // per feature: 1/σ, mean gx̂, mean gx̂ x̂
	rxhat      []T       // nil: R{x} and the directions of γ, β were zero
	rss        []float64 // R{s}/s
	out, gin   []T
	rout, rgin []T
	acc        [4][]float64
}

// sums returns k zeroed per-feature accumulators.
func (bn *batchNorm[T]) sums(k int) [][]float64 {
	out := make([][]float64, k)
	for i := range k {
		out[i] = zeros(&bn.acc[i], bn.c)
	}
	return out
}

func (bn *batchNorm[T]) forward(x []T) []T {
	c := bn.c
	m := float64(len(x) / c)
	acc := bn.sums(2)
	mu, vars := acc[0], acc[1]
	for r := 0; r < len(x); r += c {
		for k, v := range x[r : r+c] {
			mu[k] += float64(v)
		}
	}
	for k := range mu {
		mu[k] /= m
	}
	for r := 0; r < len(x); r += c {
		for k, v := range x[r : r+c] {
			d := float64(v) - mu[k]
			vars[k] += d * d
		}
	}
	bn.s = resize(bn.s, c)
	for k := range bn.s {
		bn.s[k] = 1 / math.Sqrt(vars[k]/m+bn.eps)
	}
	bn.xhat, bn.out = resize(bn.xhat, len(x)), resize(bn.out, len(x))
	for r := 0; r < len(x); r += c {
		xh, y := bn.xhat[r:r+c], bn.out[r:r+c]
		for k, v := range x[r : r+c] {
			xh[k] = T((float64(v) - mu[k]) * bn.s[k])
			y[k] = bn.gamma.w[k]*xh[k] + bn.beta.w[k]
		}
	}
	return bn.out
}

func (bn *batchNorm[T]) backward(g []T, need bool) []T {
	c := bn.c
	m := float64(len(g) / c)
	bn.g = g
	acc := bn.sums(2)
	sg, sgx := acc[0], acc[1]
	for r := 0; r < len(g); r += c {
		xh := bn.xhat[r : r+c]
		for k, v := range g[r : r+c] {
			sg[k] += float64(v)
			sgx[k] += float64(v) * float64(xh[k])
		}
	}
	bn.a, bn.b = resize(bn.a, c), resize(bn.b, c)
	for k := range c {
		bn.beta.grad[k] += T(sg[k])
		bn.gamma.grad[k] += T(sgx[k])
		gk := float64(bn.gamma.w[k])
		bn.a[k], bn.b[k] = gk*sg[k]/m, gk*sgx[k]/m
	}
	if !need {
		return nil
	}
	bn.gin = resize(bn.gin, len(g))
	for r := 0; r < len(g); r += c {
		xh, out := bn.xhat[r:r+c], bn.gin[r:r+c]
		for k, v := range g[r : r+c] {
			out[k] = T(bn.s[k] * (float64(bn.gamma.w[k])*float64(v) - bn.a[k] - float64(xh[k])*bn.b[k]))
		}
	}
	return bn.gin
}

// dirs returns the directions of γ and β, nil when zero.
func (bn *batchNorm[T]) dirs() (dg, db []T) {
	if bn.gamma.on {
		dg = bn.gamma.dir
	}
	if bn.beta.on {
		db = bn.beta.dir
	}
	return dg, db
}

func (bn *batchNorm[T]) tangent(rx []T) []T {
	dg, db := bn.dirs()
	if rx == nil && dg == nil && db == nil {
		bn.rxhat = nil
		return nil
	}
	c, n := bn.c, len(bn.xhat)
	m := float64(n / c)
	bn.rxhat = zeros(&bn.rxhat, n)
	bn.rss = zeros(&bn.rss, c)
	if rx != nil {
		acc := bn.sums(2)
		mr, sxr := acc[0], acc[1]
		for r := 0; r < n; r += c {
			xh := bn.xhat[r : r+c]
			for k, v := range rx[r : r+c] {
				mr[k] += float64(v)
				sxr[k] += float64(v) * float64(xh[k])
			}
		}
		for k := range c {
			bn.rss[k] = -bn.s[k] * sxr[k] / m
			mr[k] /= m
		}
		for r := 0; r < n; r += c {
			xh, out := bn.xhat[r:r+c], bn.rxhat[r:r+c]
			for k, v := range rx[r : r+c] {
				out[k] = T(bn.s[k]*(float64(v)-mr[k]) + float64(xh[k])*bn.rss[k])
			}
		}
	}
	bn.rout = resize(bn.rout, n)
	for r := 0; r < n; r += c {
		xh, rxh, out := bn.xhat[r:r+c], bn.rxhat[r:r+c], bn.rout[r:r+c]
		for k := range out {
			y := bn.gamma.w[k] * rxh[k]
			if dg != nil {
				y += dg[k] * xh[k]
			}
			if db != nil {
				y += db[k]
			}
			out[k] = y
		}
	}
	return bn.rout
}

func (bn *batchNorm[T]) rbackward(rg []T, need bool) []T {
	c, n := bn.c, len(bn.xhat)
	m := float64(n / c)
	if rg == nil {
		rg = make([]T, n)
	}
	dg, _ := bn.dirs()
	rxhat := bn.rxhat
	if rxhat == nil {
		rxhat = make([]T, n)
		bn.rss = zeros(&bn.rss, c)
	}
	// One pass for every sum: Σ R{g}, Σ (R{g} x̂ + g R{x̂}) (H v of β and γ), and
	// R{a}·m = Σ R{gx̂}, R{b}·m = Σ (R{gx̂} x̂ + gx̂ R{x̂}), with R{gx̂} = γ R{g} + R{γ} g.
	acc := bn.sums(4)
	srg, sh, ra, rb := acc[0], acc[1], acc[2], acc[3]
	for r := 0; r < n; r += c {
		xh, rxh, g, rgr := bn.xhat[r:r+c], rxhat[r:r+c], bn.g[r:r+c], rg[r:r+c]
		for k := range rgr {
			gk := float64(bn.gamma.w[k])
			rgx := gk * float64(rgr[k])
			if dg != nil {
				rgx += float64(dg[k]) * float64(g[k])
			}
			srg[k] += float64(rgr[k])
			sh[k] += float64(rgr[k])*float64(xh[k]) + float64(g[k])*float64(rxh[k])
			ra[k] += rgx
			rb[k] += rgx*float64(xh[k]) + gk*float64(g[k])*float64(rxh[k])
		}
	}
	for k := range c {
		if bn.beta.on {
			bn.beta.hv[k] += T(srg[k])
		}
		if bn.gamma.on {
			bn.gamma.hv[k] += T(sh[k])
		}
		ra[k] /= m
		rb[k] /= m
	}
	if !need {
		return nil
	}
	bn.rgin = resize(bn.rgin, n)
	for r := 0; r < n; r += c {
		xh, rxh, g, rgr, out := bn.xhat[r:r+c], rxhat[r:r+c], bn.g[r:r+c], rg[r:r+c], bn.rgin[r:r+c]
		for k := range out {
			gk := float64(bn.gamma.w[k])
			rgx := gk * float64(rgr[k])
			if dg != nil {
				rgx += float64(dg[k]) * float64(g[k])
			}
			x, rx, s := float64(xh[k]), float64(rxh[k]), bn.s[k]
			gx := gk * float64(g[k])
			out[k] = T(s*bn.rss[k]*(gx-bn.a[k]-x*bn.b[k]) + s*(rgx-ra[k]-rx*bn.b[k]-x*rb[k]))
		}
	}
	return bn.rgin
}

func (bn *batchNorm[T]) selected() bool { return bn.gamma.on || bn.beta.on }
