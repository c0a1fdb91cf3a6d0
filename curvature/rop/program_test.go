package rop

import (
	"errors"
	"strings"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// compiled returns the program of net on batches of n inputs of width dim, its parameters
// created by a training program as a run does.
func compiled(t *testing.T, net graph.Layer, n, dim int) (*Program[float64], *graph.Store) {
	t.Helper()
	store := graph.NewStore(tensor.Float64, 1)
	if _, err := train.NewProbe(net, store, n, dim); err != nil {
		t.Fatal(err)
	}
	p, err := Compile[float64](net, store, n, dim)
	if err != nil {
		t.Fatal(err)
	}
	return p, store
}

// Softmax regression L = mean −log softmax(x W + b)_y: the gradient and the Hessian against
// their closed forms, (1/N) Σ x̃ (p − e_y)ᵀ and (1/N) Σ (x̃x̃ᵀ) ⊗ (diag p − ppᵀ), x̃ = (x, 1).
func TestSoftmaxRegression(t *testing.T) {
	const n, d, c = 5, 3, 4
	p, store := compiled(t, graph.Sequential{graph.NewLinear("fc", d, c)}, n, d)
	x := []float32{0.5, -1, 2, 1, 0, -0.5, -2, 1, 0.25, 0.1, 0.2, 0.3, 3, -1, 1}
	y := []int32{0, 3, 1, 2, 3}
	if err := p.Prepare(x, y); err != nil {
		t.Fatal(err)
	}
	params := store.Params() // weight d × c, bias c
	dim := (d + 1) * c
	grad := make([]float64, dim)
	if err := p.Gradient(params, grad); err != nil {
		t.Fatal(err)
	}
	wantG := make([]float64, dim)
	wantH := make([][]float64, dim)
	for i := range wantH {
		wantH[i] = make([]float64, dim)
	}
	for i := range n {
		xt := []float64{float64(x[i*d]), float64(x[i*d+1]), float64(x[i*d+2]), 1}
		pr := p.p[i*c : (i+1)*c]
		for a := range d + 1 {
			for k := range c {
				e := 0.0
				if int(y[i]) == k {
					e = 1
				}
				wantG[a*c+k] += xt[a] * (pr[k] - e) / n
				for b := range d + 1 {
					for l := range c {
						lam := -pr[k] * pr[l]
						if k == l {
							lam += pr[k]
						}
						wantH[a*c+k][b*c+l] += xt[a] * xt[b] * lam / n
					}
				}
			}
		}
	}
	for i := range dim {
		if d := grad[i] - wantG[i]; d > 1e-15 || d < -1e-15 {
			t.Fatalf("gradient %d: %v, closed form %v", i, grad[i], wantG[i])
		}
	}
	e, col := make([]float64, dim), make([]float64, dim)
	for j := range dim {
		e[j] = 1
		if err := p.HVP(params, col, e); err != nil {
			t.Fatal(err)
		}
		e[j] = 0
		for i := range dim {
			if d := col[i] - wantH[i][j]; d > 1e-15 || d < -1e-15 {
				t.Fatalf("H[%d][%d] = %v, closed form %v", i, j, col[i], wantH[i][j])
			}
		}
	}
}

// Bad input is refused with what was expected.
func TestRefusals(t *testing.T) {
	net := graph.Sequential{graph.NewLinear("fc1", 3, 4), graph.GELU, graph.NewLinear("fc2", 4, 2)}
	store := graph.NewStore(tensor.Float64, 1)
	if _, err := train.NewProbe(net, store, 2, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := Compile[float32](net, store, 2, 3); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "layer 1") {
		t.Errorf("GELU: %v, want ErrUnsupported naming layer 1", err)
	}
	p, store := compiled(t, graph.Sequential{graph.NewLinear("fc", 3, 2)}, 2, 3)
	x := make([]float32, 6)
	for _, c := range []struct {
		err  error
		want string
	}{
		{p.HVP(store.Params(), nil, nil), "Prepare has not run"},
		{p.Prepare(x, []int32{0, 2}), "sample 1 has label 2, expected 0 … 1"},
		{p.Prepare(x[:5], []int32{0, 1}), "5 inputs and 2 labels"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", c.err, c.want)
		}
	}
	if err := p.Prepare(x, []int32{0, 1}); err != nil {
		t.Fatal(err)
	}
	if err := p.HVP(store.Params(), make([]float64, 3), make([]float64, 8)); err == nil || !strings.Contains(err.Error(), "8 parameter values") {
		t.Errorf("wrong length: %v", err)
	}
	twice := []*graph.Param{store.Params()[0], store.Params()[0]}
	if err := p.HVP(twice, make([]float64, 12), make([]float64, 12)); err == nil || !strings.Contains(err.Error(), "selected twice") {
		t.Errorf("parameter twice: %v", err)
	}
}
