package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"gorgonia.org/tensor"
)

// refForward is an independent float64 implementation of a Sequential of Linear, BatchNorm
// (batch statistics) and activations, with a softmax cross-entropy mean loss. perturb, if set,
// edits a weighted layer's output h before it flows on. It returns the loss and each weighted
// layer's input matrix.
func refForward(t *testing.T, net graph.Sequential, store *graph.Store, x []float64, rows int, y []int32,
	perturb func(layer string, h []float64)) (float64, map[string][]float64) {
	t.Helper()
	f64 := func(name string) []float64 {
		p := store.Param(name)
		if p == nil {
			return nil
		}
		switch d := p.Value.Data().(type) {
		case []float64:
			return d
		case []float32:
			out := make([]float64, len(d))
			for i, v := range d {
				out[i] = float64(v)
			}
			return out
		}
		t.Fatalf("dtype")
		return nil
	}
	inputs := map[string][]float64{}
	cur, width := append([]float64(nil), x...), len(x)/rows
	for _, l := range net {
		switch l := l.(type) {
		case *graph.Linear:
			inputs[l.Name] = append([]float64(nil), cur...)
			w, b := f64(l.Name+".weight"), f64(l.Name+".bias")
			h := make([]float64, rows*l.Out)
			for r := 0; r < rows; r++ {
				for j := 0; j < l.Out; j++ {
					s := 0.0
					for k := 0; k < l.In; k++ {
						s += cur[r*l.In+k] * w[k*l.Out+j]
					}
					if b != nil {
						s += b[j]
					}
					h[r*l.Out+j] = s
				}
			}
			if perturb != nil {
				perturb(l.Name, h)
			}
			cur, width = h, l.Out
		case *graph.BatchNorm:
			g, be := f64(l.Name+".scale"), f64(l.Name+".shift")
			for j := 0; j < width; j++ {
				m, v := 0.0, 0.0
				for r := 0; r < rows; r++ {
					m += cur[r*width+j]
				}
				m /= float64(rows)
				for r := 0; r < rows; r++ {
					d := cur[r*width+j] - m
					v += d * d
				}
				v /= float64(rows)
				for r := 0; r < rows; r++ {
					cur[r*width+j] = (cur[r*width+j]-m)/math.Sqrt(v+l.Eps)*g[j] + be[j]
				}
			}
		case graph.Activation:
			for i, v := range cur {
				switch l {
				case graph.ReLU:
					cur[i] = math.Max(v, 0)
				case graph.Tanh:
					cur[i] = math.Tanh(v)
				case graph.Sigmoid:
					cur[i] = 1 / (1 + math.Exp(-v))
				}
			}
		default:
			t.Fatalf("reference has no %T", l)
		}
	}
	loss := 0.0
	for r := 0; r < rows; r++ {
		row := cur[r*width : (r+1)*width]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(v - m)
		}
		loss += m + math.Log(s) - row[y[r]]
	}
	return loss / float64(rows), inputs
}

type fixture struct {
	net   graph.Sequential
	store *graph.Store
	x32   []float32
	x64   []float64
	y     []int32
	rows  int
	dim   int
}

func newFixture(t *testing.T, spec nets.MLPSpec, rows int, seed uint64) fixture {
	t.Helper()
	net, err := nets.MLP(spec)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	f := fixture{net: net, store: graph.NewStore(tensor.Float64, seed), rows: rows, dim: spec.Input}
	for i := 0; i < rows*spec.Input; i++ {
		v := rng.NormFloat64()
		f.x32 = append(f.x32, float32(v))
		f.x64 = append(f.x64, float64(float32(v)))
	}
	for i := 0; i < rows; i++ {
		f.y = append(f.y, int32(rng.IntN(spec.Classes)))
	}
	return f
}

var gradSpecs = map[string]nets.MLPSpec{
	"plain":     {Input: 5, Depth: 3, Width: 4, Classes: 3, Bias: true, Activation: graph.Tanh},
	"bn-before": {Input: 5, Depth: 3, Width: 4, Classes: 3, Bias: true, Activation: graph.Tanh, Norm: nets.BatchNorm},
	"bn-after":  {Input: 5, Depth: 3, Width: 4, Classes: 3, Bias: false, Activation: graph.Sigmoid, Norm: nets.BatchNorm, Placement: nets.AfterActivation},
	"relu":      {Input: 5, Depth: 2, Width: 6, Classes: 4, Bias: true, Activation: graph.ReLU},
}

// The hooks' per-sample gradients N·∂L/∂h and inputs x match central finite differences of an
// independent implementation, for every weighted layer.
func TestHookCapturesMatchFiniteDifferences(t *testing.T) {
	for name, spec := range gradSpecs {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, spec, 6, 3)
			tr, err := NewTrainer(f.net, f.store, f.rows, f.dim)
			if err != nil {
				t.Fatal(err)
			}
			loss, _, err := tr.Run(f.x32, f.y, true)
			if err != nil {
				t.Fatal(err)
			}
			ref, inputs := refForward(t, f.net, f.store, f.x64, f.rows, f.y, nil)
			if math.Abs(loss-ref) > 1e-12 {
				t.Fatalf("loss %v, reference %v", loss, ref)
			}
			for _, p := range tr.Hooks().Points() {
				want := inputs[p.Layer]
				if len(p.X.F64) != len(want) {
					t.Fatalf("%s: captured %d inputs, want %d", p.Layer, len(p.X.F64), len(want))
				}
				for i := range want {
					if math.Abs(p.X.F64[i]-want[i]) > 1e-12 {
						t.Fatalf("%s: x[%d]=%v, reference %v", p.Layer, i, p.X.F64[i], want[i])
					}
				}
				const eps = 1e-6
				for i := range p.G.F64 {
					at := func(d float64) float64 {
						l, _ := refForward(t, f.net, f.store, f.x64, f.rows, f.y, func(layer string, h []float64) {
							if layer == p.Layer {
								h[i] += d
							}
						})
						return l
					}
					fd := float64(f.rows) * (at(eps) - at(-eps)) / (2 * eps)
					if math.Abs(fd-p.G.F64[i]) > 1e-7*math.Max(1, math.Abs(fd)) {
						t.Fatalf("%s: g[%d]=%v, finite difference %v", p.Layer, i, p.G.F64[i], fd)
					}
				}
			}
		})
	}
}

// Parameter gradients (through Linear, BatchNorm and the loss) match central finite
// differences of the independent implementation.
func TestParamGradientsMatchFiniteDifferences(t *testing.T) {
	for name, spec := range gradSpecs {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, spec, 5, 11)
			tr, err := NewTrainer(f.net, f.store, f.rows, f.dim)
			if err != nil {
				t.Fatal(err)
			}
			for run := 0; run < 2; run++ { // a second run must not accumulate
				if _, _, err := tr.Run(f.x32, f.y, false); err != nil {
					t.Fatal(err)
				}
			}
			for pi, p := range tr.Params() {
				g, err := tr.Grad(pi)
				if err != nil {
					t.Fatal(err)
				}
				w := p.Value.Data().([]float64)
				for i := range w {
					orig := w[i]
					const eps = 1e-6
					w[i] = orig + eps
					lp, _ := refForward(t, f.net, f.store, f.x64, f.rows, f.y, nil)
					w[i] = orig - eps
					lm, _ := refForward(t, f.net, f.store, f.x64, f.rows, f.y, nil)
					w[i] = orig
					fd := (lp - lm) / (2 * eps)
					got := g.Data().([]float64)[i]
					if math.Abs(fd-got) > 1e-7*math.Max(1, math.Abs(fd)) {
						t.Fatalf("%s[%d]: gradient %v, finite difference %v", p.Name, i, got, fd)
					}
				}
			}
		})
	}
}
