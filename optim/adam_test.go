package optim

import (
	"math"
	"testing"

	"gorgonia.org/tensor"
)

// adamRef is Adam written out one scalar at a time in the textbook form (Kingma and Ba,
// Algorithm 1: bias-corrected moments m̂ and v̂), with PyTorch's placement of ε (added to √v̂)
// and its two kinds of weight decay.
type adamRef struct {
	b1, b2, eps, wd float64
	decoupled       bool
	m, v            float64
	t               int
}

func (r *adamRef) step(w, g, lr float64) float64 {
	r.t++
	if r.decoupled {
		w -= lr * r.wd * w
	} else {
		g += r.wd * w
	}
	r.m = r.b1*r.m + (1-r.b1)*g
	r.v = r.b2*r.v + (1-r.b2)*g*g
	mHat := r.m / (1 - math.Pow(r.b1, float64(r.t)))
	vHat := r.v / (1 - math.Pow(r.b2, float64(r.t)))
	return w - lr*mHat/(math.Sqrt(vHat)+r.eps)
}

// lossGrad is the gradient of f(w) = Σ ½·a_j·w_j² + sin(w_j), which changes sign
// and size along the way.
func lossGrad(w float64, j int) float64 {
	a := []float64{3, 0.5, 20, 1}[j%4]
	return a*w + math.Cos(w)
}

// On every dtype, with both kinds of weight decay, Adam follows the hand-written recurrence
// over 40 steps of a changing learning rate.
func TestAdamMatchesReference(t *testing.T) {
	w0 := []float64{2, -1.5, 0.3, -0.01, 5}
	for _, c := range []struct {
		name string
		o    AdamOptions
		wd   float64
	}{
		{"adam", AdamOptions{0.9, 0.999, 1e-8}, 0},
		{"adam", AdamOptions{0.8, 0.99, 1e-3}, 0.1},
		{"adamw", AdamOptions{0.9, 0.999, 1e-8}, 0.1},
		{"adamw", AdamOptions{0, 0.5, 1e-6}, 0.3},
	} {
		for _, dtype := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			opt, err := New(c.name, &c.o, c.wd)
			if err != nil {
				t.Fatal(err)
			}
			refs := make([]adamRef, len(w0))
			hw := append([]float64(nil), w0...)
			for j := range refs {
				refs[j] = adamRef{b1: c.o.Beta1, b2: c.o.Beta2, eps: c.o.Eps, wd: c.wd, decoupled: c.name == "adamw"}
			}
			w, g := vec(dtype, w0), vec(dtype, w0)
			tol := 1e-12
			if dtype == tensor.Float32 {
				tol = 2e-6 // float32 rounding of 40 steps
			}
			for k := 0; k < 40; k++ {
				lr := 0.05 / float64(1+k/10)
				cur := values(w)
				grad := make([]float64, len(cur))
				for j := range cur {
					grad[j] = lossGrad(cur[j], j)
				}
				set(g, grad)
				if err := opt.Step([]*tensor.Dense{w}, []*tensor.Dense{g}, lr); err != nil {
					t.Fatal(err)
				}
				// The same gradients drive the reference, so float32 rounding does not steer the
				// two onto different paths.
				for j := range hw {
					hw[j] = refs[j].step(hw[j], grad[j], lr)
				}
				for j, got := range values(w) {
					if math.Abs(got-hw[j]) > tol {
						t.Fatalf("%s %+v λ=%v %v step %d: w[%d]=%v, want %v", c.name, c.o, c.wd, dtype, k, j, got, hw[j])
					}
				}
			}
		}
	}
}

// Closed forms: on the first step m̂ = g and v̂ = g², so every weight moves by
// η·g/(|g|+ε) ≈ η·sign(g); under a constant gradient that stays so at every step t.
func TestAdamClosedForms(t *testing.T) {
	const lr, eps = 0.01, 1e-8
	g0 := []float64{3, -0.2, 1e-3, -40}
	for _, dtype := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		tol := 1e-15
		if dtype == tensor.Float32 {
			tol = 1e-8
		}
		opt, err := New("adam", nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		w, g := vec(dtype, make([]float64, len(g0))), vec(dtype, g0)
		for k := 1; k <= 25; k++ {
			if err := opt.Step([]*tensor.Dense{w}, []*tensor.Dense{g}, lr); err != nil {
				t.Fatal(err)
			}
			for j, got := range values(w) {
				want := -float64(k) * lr * g0[j] / (math.Abs(g0[j]) + eps)
				if math.Abs(got-want) > tol*float64(k) {
					t.Fatalf("%v step %d: w[%d]=%v, want %v", dtype, k, j, got, want)
				}
				if k == 1 && math.Abs(got+lr*math.Copysign(1, g0[j])) > 1e-5*lr {
					t.Errorf("%v: first step moved w[%d] by %v, not about %v·sign(g)", dtype, j, got, lr)
				}
			}
		}
	}
}

// Adam and AdamW differ only in the weight decay: without it they are the same bit for bit;
// AdamW is Adam (λ=0) after shrinking the weights by 1−η·λ, and Adam with L2 is Adam (λ=0)
// on the gradient ∇ + λ·w.
func TestAdamWDiffersOnlyInDecay(t *testing.T) {
	const wd = 0.05
	w0 := []float64{1, -2, 0.5}
	for _, dtype := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		// run takes 30 steps; before each, prepare may change the weights and gradient.
		run := func(name string, weightDecay float64, prepare func(w, g *tensor.Dense, lr float64)) []float64 {
			opt, err := New(name, nil, weightDecay)
			if err != nil {
				t.Fatal(err)
			}
			w, g := vec(dtype, w0), vec(dtype, w0)
			for k := 0; k < 30; k++ {
				lr := 0.1 / float64(1+k)
				cur := values(w)
				for j := range cur {
					cur[j] = lossGrad(cur[j], j)
				}
				set(g, cur)
				if prepare != nil {
					prepare(w, g, lr)
				}
				if err := opt.Step([]*tensor.Dense{w}, []*tensor.Dense{g}, lr); err != nil {
					t.Fatal(err)
				}
			}
			return values(w)
		}
		same := func(what string, a, b []float64) {
			for j := range a {
				if a[j] != b[j] {
					t.Errorf("%v %s: w[%d] %v vs %v", dtype, what, j, a[j], b[j])
				}
			}
		}
		same("adamw(λ=0) vs adam(λ=0)", run("adamw", 0, nil), run("adam", 0, nil))
		same("adam(λ) vs adam(0) on ∇+λw", run("adam", wd, nil),
			run("adam", 0, func(w, g *tensor.Dense, _ float64) { addScaled(g, w, wd) }))
		same("adamw(λ) vs adam(0) after the shrink", run("adamw", wd, nil),
			run("adam", 0, func(w, _ *tensor.Dense, lr float64) { shrink(w, 1-lr*wd) }))
		if a, b := run("adam", wd, nil), run("adamw", wd, nil); a[0] == b[0] {
			t.Errorf("%v: L2 and decoupled decay gave the same weights", dtype)
		}
	}
}

func vec(dtype tensor.Dtype, v []float64) *tensor.Dense {
	t := tensor.New(tensor.WithShape(len(v)), tensor.Of(dtype))
	set(t, v)
	return t
}

func set(t *tensor.Dense, v []float64) {
	switch d := t.Data().(type) {
	case []float32:
		for i := range d {
			d[i] = float32(v[i])
		}
	case []float64:
		copy(d, v)
	}
}

func values(t *tensor.Dense) []float64 {
	switch d := t.Data().(type) {
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return append([]float64(nil), d...)
	}
	return nil
}

// shrink and addScaled do in the tensor's own precision what the optimiser does.
func shrink(t *tensor.Dense, f float64) {
	switch d := t.Data().(type) {
	case []float32:
		for i := range d {
			d[i] *= float32(f)
		}
	case []float64:
		for i := range d {
			d[i] *= f
		}
	}
}

func addScaled(g, w *tensor.Dense, a float64) {
	switch d := g.Data().(type) {
	case []float32:
		for i, x := range w.Data().([]float32) {
			d[i] += float32(a) * x
		}
	case []float64:
		for i, x := range w.Data().([]float64) {
			d[i] += a * x
		}
	}
}
