package netcurv

import (
	"math"
	"testing"

	"github.com/lwca/lwca/curvature"
	"github.com/lwca/lwca/nets"
	"gonum.org/v1/gonum/mat"
)

// jacobian forms J_S (N·C × |S|) row by row from vector-Jacobian products with unit
// cotangents: exact, N·C backward passes.
func jacobian(t *testing.T, m *Model, s *Selection) *mat.Dense {
	t.Helper()
	nc := m.n * m.classes
	j := mat.NewDense(nc, s.Dim(), nil)
	u := make([]float64, nc)
	row := make([]float64, s.Dim())
	for r := range nc {
		u[r] = 1
		if err := m.VJP(s, row, u); err != nil {
			t.Fatal(err)
		}
		u[r] = 0
		j.SetRow(r, row)
	}
	return j
}

// denseGGN forms Jᵀ Λ J with Λ = (1/N) blockdiag(diag(pᵢ) − pᵢpᵢᵀ).
func denseGGN(t *testing.T, m *Model, j *mat.Dense, p []float64) *mat.SymDense {
	n, c := m.n, m.classes
	lam := mat.NewDense(n*c, n*c, nil)
	for i := range n {
		for a := range c {
			for b := range c {
				v := -p[i*c+a] * p[i*c+b]
				if a == b {
					v += p[i*c+a]
				}
				lam.Set(i*c+a, i*c+b, v/float64(n))
			}
		}
	}
	var lj, g mat.Dense
	lj.Mul(lam, j)
	g.Mul(j.T(), &lj)
	r, _ := g.Dims()
	out := mat.NewSymDense(r, nil)
	for a := range r {
		for b := a; b < r; b++ {
			out.SetSym(a, b, (g.At(a, b)+g.At(b, a))/2)
		}
	}
	return out
}

// Jᵀu with u = ∂L/∂z = (p − onehot(y))/N is the loss gradient the training program computes
// through its own cross-entropy op.
func TestVJPIsLossGradient(t *testing.T) {
	for name, spec := range map[string]nets.MLPSpec{"plain": mlpPlain, "bn": mlpBN} {
		m := newMLP(t, spec, 6, 4)
		s, err := m.Select()
		if err != nil {
			t.Fatal(err)
		}
		z := make([]float64, m.n*m.classes)
		if err := m.Logits(z); err != nil {
			t.Fatal(err)
		}
		u := probabilities(z, m.n, m.classes)
		for i, y := range m.y {
			u[i*m.classes+int(y)]--
		}
		for i := range u {
			u[i] /= float64(m.n)
		}
		got, want := make([]float64, s.Dim()), make([]float64, s.Dim())
		if err := m.VJP(s, got, u); err != nil {
			t.Fatal(err)
		}
		if err := m.Gradient(s, want); err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for i := range got {
			worst = math.Max(worst, math.Abs(got[i]-want[i]))
		}
		t.Logf("%s: max |Jᵀ∂L/∂z − ∇L| = %.1e (‖∇L‖∞ %.2g)", name, worst, maxAbs(want))
		if worst > 1e-14*math.Max(1, maxAbs(want)) {
			t.Fatalf("%s: VJP differs from the gradient by %g", name, worst)
		}
	}
}

// The GGN operator against Jᵀ Λ J formed from the exact Jacobian: to rounding when its J v is
// the exact one, within the finite-difference bound with its own J v; and GGN ⪰ 0.
func TestGGN(t *testing.T) {
	for name, model := range map[string]func(*testing.T) *Model{
		"mlp":    func(t *testing.T) *Model { return newMLP(t, mlpPlain, 6, 5) },
		"mlp-bn": func(t *testing.T) *Model { return newMLP(t, mlpBN, 6, 5) },
		"cnn":    func(t *testing.T) *Model { return newCNN(t, cnnPlain, 4, 5) },
		"cnn-bn": func(t *testing.T) *Model { return newCNN(t, cnnBN, 4, 5) },
	} {
		t.Run(name, func(t *testing.T) {
			m := model(t)
			s, err := m.Select()
			if err != nil {
				t.Fatal(err)
			}
			j := jacobian(t, m, s)
			g, err := m.GGN(s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := denseGGN(t, m, j, g.p)

			// Finite-difference J v against the exact Jacobian's columns.
			fd := mat.NewDense(m.n*m.classes, s.Dim(), nil)
			col := make([]float64, m.n*m.classes)
			e := make([]float64, s.Dim())
			for k := range s.Dim() {
				e[k] = 1
				if err := g.jvp(col, e); err != nil {
					t.Fatal(err)
				}
				e[k] = 0
				fd.SetCol(k, col)
			}
			ej := relFrob(fd, j)

			got := dense(t, g)
			eFD := relFrob(got, want)

			exact := *g
			exact.jvp = func(dst, v []float64) error {
				dst2 := mat.NewVecDense(len(dst), dst)
				dst2.MulVec(j, mat.NewVecDense(len(v), v))
				return nil
			}
			eExact := relFrob(dense(t, &exact), want)

			ev := eigen(t, want)
			evFD := eigen(t, got)
			t.Logf("%s, %d params: J by differences %.1e, GGN %.1e (exact J v: %.1e); λ ∈ [%.2e, %.4g], with differences from %.2e",
				name, s.Dim(), ej, eFD, eExact, ev[0], ev[len(ev)-1], evFD[0])
			if ej > 1e-8 || eFD > 1e-8 {
				t.Errorf("finite-difference J (%g) or GGN (%g) outside 1e-8", ej, eFD)
			}
			if eExact > 1e-13 {
				t.Errorf("GGN with exact pieces differs by %g", eExact)
			}
			if ev[0] < -1e-14*ev[len(ev)-1] || evFD[0] < -1e-8*ev[len(ev)-1] {
				t.Errorf("GGN not PSD: smallest eigenvalue %g (%g by differences), largest %g", ev[0], evFD[0], ev[len(ev)-1])
			}
			if _, err := curvature.Lanczos(g, curvature.LanczosOptions{K: 1}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
