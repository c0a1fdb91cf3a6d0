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
	x, y, g    []T
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
		return 1 - a.y[i]*a.y[i]
	}
	return a.y[i] * (1 - a.y[i])
}

func (a *activation[T]) d2(i int) T {
	switch a.kind {
	case tanh:
		return -2 * a.y[i] * (1 - a.y[i]*a.y[i])
	case sigmoid:
		y := a.y[i]
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
	a.y = a.out
	return a.out
}

func (a *activation[T]) backward(g []T, need bool) []T {
	a.g = g
	if !need {
		return nil
	}
	a.gin = resize(a.gin, len(g))
	for i, v := range g {
		a.gin[i] = a.d1(i) * v
	}
	return a.gin
}

func (a *activation[T]) tangent(rx []T) []T {
	a.rx = rx
	if rx == nil {
		return nil
	}
	a.rout = resize(a.rout, len(rx))
	for i, v := range rx {
		a.rout[i] = a.d1(i) * v
	}
	return a.rout
}

func (a *activation[T]) rbackward(rg []T, need bool) []T {
	if !need {
		return nil
	}
	a.rgin = zeros(&a.rgin, len(a.x))
	if rg != nil {
		for i, v := range rg {
			a.rgin[i] = a.d1(i) * v
		}
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
type batchNorm[T num] struct {
	c           int
	eps         float64
	gamma, beta *slot[T]

	xhat, g     []T
	s, a, b     []float64 // per feature: 1/σ, mean gx̂, mean gx̂ x̂
	rxhat       []T       // nil: R{x} and the directions of γ, β were zero
	rss         []float64 // R{s}/s
	out, gin    []T
	rout, rgin  []T
	sums, sums2 []float64
}

func (bn *batchNorm[T]) rows(n int) int { return n / bn.c }

// moments returns per feature Σ f(i) and Σ h(i) over the rows, i the element index.
func (bn *batchNorm[T]) moments(n int, f, h func(i int) float64) ([]float64, []float64) {
	bn.sums, bn.sums2 = zeros(&bn.sums, bn.c), zeros(&bn.sums2, bn.c)
	for i := range n {
		k := i % bn.c
		bn.sums[k] += f(i)
		if h != nil {
			bn.sums2[k] += h(i)
		}
	}
	return bn.sums, bn.sums2
}

func (bn *batchNorm[T]) forward(x []T) []T {
	c, m := bn.c, float64(bn.rows(len(x)))
	mean, _ := bn.moments(len(x), func(i int) float64 { return float64(x[i]) }, nil)
	mu := make([]float64, c)
	for k := range mu {
		mu[k] = mean[k] / m
	}
	vars, _ := bn.moments(len(x), func(i int) float64 { d := float64(x[i]) - mu[i%c]; return d * d }, nil)
	bn.s = resize(bn.s, c)
	for k := range bn.s {
		bn.s[k] = 1 / math.Sqrt(vars[k]/m+bn.eps)
	}
	bn.xhat, bn.out = resize(bn.xhat, len(x)), resize(bn.out, len(x))
	for i, v := range x {
		k := i % c
		bn.xhat[i] = T((float64(v) - mu[k]) * bn.s[k])
		bn.out[i] = bn.gamma.w[k]*bn.xhat[i] + bn.beta.w[k]
	}
	return bn.out
}

func (bn *batchNorm[T]) backward(g []T, need bool) []T {
	c, m := bn.c, float64(bn.rows(len(g)))
	bn.g = g
	sg, sgx := bn.moments(len(g), func(i int) float64 { return float64(g[i]) },
		func(i int) float64 { return float64(g[i]) * float64(bn.xhat[i]) })
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
	for i, v := range g {
		k := i % c
		bn.gin[i] = T(bn.s[k] * (float64(bn.gamma.w[k])*float64(v) - bn.a[k] - float64(bn.xhat[i])*bn.b[k]))
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
	m := float64(bn.rows(n))
	bn.rxhat = zeros(&bn.rxhat, n)
	if rx != nil {
		srx, sxr := bn.moments(n, func(i int) float64 { return float64(rx[i]) },
			func(i int) float64 { return float64(rx[i]) * float64(bn.xhat[i]) })
		bn.rss = resize(bn.rss, c)
		for k := range c {
			bn.rss[k] = -bn.s[k] * sxr[k] / m
			srx[k] /= m // mean R{x}
		}
		for i, v := range rx {
			k := i % c
			bn.rxhat[i] = T(bn.s[k]*(float64(v)-srx[k]) + float64(bn.xhat[i])*bn.rss[k])
		}
	} else {
		bn.rss = zeros(&bn.rss, c)
	}
	bn.rout = resize(bn.rout, n)
	for i := range n {
		k := i % c
		y := bn.gamma.w[k] * bn.rxhat[i]
		if dg != nil {
			y += dg[k] * bn.xhat[i]
		}
		if db != nil {
			y += db[k]
		}
		bn.rout[i] = y
	}
	return bn.rout
}

func (bn *batchNorm[T]) rbackward(rg []T, need bool) []T {
	c, n := bn.c, len(bn.xhat)
	m := float64(bn.rows(n))
	if rg == nil {
		rg = make([]T, n)
	}
	dg, _ := bn.dirs()
	rxhat := bn.rxhat
	if rxhat == nil {
		rxhat = make([]T, n)
		bn.rss = zeros(&bn.rss, c)
	}
	// R{gx̂} = γ R{g} + R{γ} g.
	rgx := func(i int) float64 {
		k := i % c
		v := float64(bn.gamma.w[k]) * float64(rg[i])
		if dg != nil {
			v += float64(dg[k]) * float64(bn.g[i])
		}
		return v
	}
	if bn.gamma.on || bn.beta.on {
		srg, sh := bn.moments(n, func(i int) float64 { return float64(rg[i]) },
			func(i int) float64 { return float64(rg[i])*float64(bn.xhat[i]) + float64(bn.g[i])*float64(rxhat[i]) })
		for k := range c {
			if bn.beta.on {
				bn.beta.hv[k] += T(srg[k])
			}
			if bn.gamma.on {
				bn.gamma.hv[k] += T(sh[k])
			}
		}
	}
	if !need {
		return nil
	}
	ra, rb := bn.moments(n, rgx, func(i int) float64 {
		k := i % c
		return rgx(i)*float64(bn.xhat[i]) + float64(bn.gamma.w[k])*float64(bn.g[i])*float64(rxhat[i])
	})
	bn.rgin = resize(bn.rgin, n)
	for i := range n {
		k := i % c
		xh, rxh := float64(bn.xhat[i]), float64(rxhat[i])
		gx := float64(bn.gamma.w[k]) * float64(bn.g[i])
		rs := bn.s[k] * bn.rss[k]
		bn.rgin[i] = T(rs*(gx-bn.a[k]-xh*bn.b[k]) + bn.s[k]*(rgx(i)-ra[k]/m-rxh*bn.b[k]-xh*rb[k]/m))
	}
	return bn.rgin
}

func (bn *batchNorm[T]) selected() bool { return bn.gamma.on || bn.beta.on }
