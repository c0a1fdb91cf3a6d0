package experiments

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/hooks"
	"github.com/lwca/lwca/nets"
	"github.com/lwca/lwca/train"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// captureRun builds a float64 network, applies edit to its fresh parameters, runs one
// captured training pass on a fixed batch and returns every layer's analysis.
func captureRun(t *testing.T, spec nets.MLPSpec, rows int, edit func(*graph.Store)) []LayerAnalysis {
	t.Helper()
	net, err := nets.MLP(spec)
	if err != nil {
		t.Fatal(err)
	}
	store := graph.NewStore(tensor.Float64, 5)
	tr, err := train.NewTrainer(net, store, rows, spec.Input)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(store)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	x := make([]float32, rows*spec.Input)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, rows)
	for i := range y {
		y[i] = int32(rng.IntN(spec.Classes))
	}
	if _, _, err := tr.Run(x, y, true); err != nil {
		t.Fatal(err)
	}
	c := newConditioner([]float64{0.5, 1}, nil, analysis.FactorOptions{})
	nothing := func(string) *tensor.Dense { return nil }
	las, err := c.analyse(tr.Hooks(), nothing, nothing, 0.1, new(0.0))
	if err != nil {
		t.Fatal(err)
	}
	return las
}

func scaleParam(s *graph.Store, name string, a float64) {
	for i, v := range s.Param(name).Value.Data().([]float64) {
		s.Param(name).Value.Data().([]float64)[i] = v * a
	}
}

func sameSpectrum(t *testing.T, what string, a, b analysis.Spectrum, factor float64) {
	t.Helper()
	top := a.Values[0]
	for i := range a.Values {
		if math.Abs(a.Values[i]*factor-b.Values[i]) > 1e-7*top*math.Max(1, factor) {
			t.Fatalf("%s: λ%d = %v, want %v·%v", what, i+1, b.Values[i], a.Values[i], factor)
		}
	}
}

// BatchNorm's scale invariance (method.md): scaling the W that feeds a BN by α leaves every
// Σx unchanged and divides that layer's Σ∇h by α²; the other layers' Σ∇h are unchanged.
func TestBatchNormScaleInvariance(t *testing.T) {
	spec := nets.MLPSpec{Input: 6, Depth: 3, Width: 5, Classes: 4, Bias: true, Norm: nets.BatchNorm, BNEps: 1e-14}
	const alpha = 3.0
	base := captureRun(t, spec, 16, nil)
	scaled := captureRun(t, spec, 16, func(s *graph.Store) { scaleParam(s, "fc2.weight", alpha) })
	for i := range base {
		sameSpectrum(t, base[i].Layer+" Σx", base[i].Input, scaled[i].Input, 1)
		want := 1.0
		if base[i].Layer == "fc2" {
			want = 1 / (alpha * alpha)
		}
		sameSpectrum(t, base[i].Layer+" Σ∇h", base[i].Gradient, scaled[i].Gradient, want)
	}
}

// Plain ReLU net without biases: scaling W_k by α_k scales Σx of layer k by (Π_{i<k} α_i)².
func TestReLUScalingPropagates(t *testing.T) {
	spec := nets.MLPSpec{Input: 6, Depth: 4, Width: 5, Classes: 3, Bias: false}
	alphas := []float64{2, 0.5, 3}
	base := captureRun(t, spec, 12, nil)
	scaled := captureRun(t, spec, 12, func(s *graph.Store) {
		for i, a := range alphas {
			scaleParam(s, "fc"+string(rune('1'+i))+".weight", a)
		}
	})
	prod := 1.0
	for k := range base {
		sameSpectrum(t, base[k].Layer+" Σx", base[k].Input, scaled[k].Input, prod*prod)
		if k < len(alphas) {
			prod *= alphas[k]
		}
	}
}

// Softmax cross-entropy: per-sample output gradients sum to zero over the classes, so the last
// layer's Σ∇h has rank ≤ C−1 and κ = +Inf, while κ_0.5 stays finite. A batch of N < d samples
// gives rank(Σx) ≤ N.
func TestRankFacts(t *testing.T) {
	spec := nets.MLPSpec{Input: 20, Depth: 2, Width: 8, Classes: 5, Bias: true}
	las := captureRun(t, spec, 7, nil)
	last := las[len(las)-1]
	if last.GradM.NumericalRank > spec.Classes-1 {
		t.Errorf("last layer Σ∇h rank %d > C−1 = %d", last.GradM.NumericalRank, spec.Classes-1)
	}
	if !math.IsInf(last.GradM.Kappa, 1) {
		t.Errorf("last layer κ(Σ∇h) = %v, want +Inf", last.GradM.Kappa)
	}
	if k := last.GradM.KappaP[0]; k.P != 0.5 || math.IsInf(k.Value, 0) || k.Value < 1 {
		t.Errorf("last layer κ_0.5(Σ∇h) = %+v, want finite ≥ 1", k)
	}
	if r := las[0].InputM.NumericalRank; r > 7 {
		t.Errorf("first layer Σx of 7 samples in 20 dimensions has rank %d", r)
	}
	if r := las[0].InputM.NumericalRank; r < 7 {
		t.Errorf("first layer Σx of 7 Gaussian samples has rank %d, want 7", r)
	}
}

// On a single pass with fewer rows than dimensions, factors formed as Gram matrices give the
// spectra and metrics of the d×d factors, with every estimator option.
func TestGramRouteMatchesFullFactors(t *testing.T) {
	spec := nets.MLPSpec{Input: 20, Depth: 3, Width: 12, Classes: 4, Bias: true, Activation: graph.Tanh}
	const rows = 7
	net, err := nets.MLP(spec)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := train.NewTrainer(net, graph.NewStore(tensor.Float64, 5), rows, spec.Input)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 9))
	x := make([]float32, rows*spec.Input)
	for i := range x {
		x[i] = float32(rng.NormFloat64() + 2)
	}
	if _, _, err := tr.Run(x, []int32{0, 1, 2, 3, 0, 1, 2}, true); err != nil {
		t.Fatal(err)
	}
	nothing := func(string) *tensor.Dense { return nil }
	for _, opts := range []analysis.FactorOptions{{}, {Centered: true}, {AppendOne: true}} {
		var got [2][]LayerAnalysis
		for k, noGram := range []bool{false, true} {
			c := newConditioner([]float64{0.5, 1}, nil, opts)
			c.noGram = noGram
			if got[k], err = c.analyse(tr.Hooks(), nothing, nothing, 0.1, new(0.0)); err != nil {
				t.Fatal(err)
			}
		}
		for i, g := range got[0] {
			f := got[1][i]
			for _, pair := range [][2]analysis.Spectrum{{f.Input, g.Input}, {f.Gradient, g.Gradient}} {
				if pair[0].Len() != pair[1].Len() {
					t.Fatalf("%+v %s: %d eigenvalues, full factor %d", opts, g.Layer, pair[1].Len(), pair[0].Len())
				}
				for j := range pair[0].Values {
					if math.Abs(pair[0].Values[j]-pair[1].Values[j]) > 1e-10*pair[0].Values[0] {
						t.Fatalf("%+v %s: λ%d = %v, full factor %v", opts, g.Layer, j+1, pair[1].Values[j], pair[0].Values[j])
					}
				}
			}
			// κ_0.5(F) is finite, or infinite where the full route's rounding makes it huge
			// instead (F of a 7-sample batch has rank ≤ 49 of 240).
			a, b := f.FishM.KappaP[0].Value, g.FishM.KappaP[0].Value
			if a < 1e12 && math.Abs(a-b) > 1e-6*a || a >= 1e12 && b < 1e12 || f.InputM.Dim != g.InputM.Dim {
				t.Fatalf("%+v %s: κ_0.5(F) %v, full factors %v", opts, g.Layer, b, a)
			}
		}
	}
}

// Pooled rows with columns that are zero in every row (never-lit pixels) form the factor
// without them; padded to the factor's dimension, its spectrum is that of the full second
// moment computed by brute force in float64, centred or not and with the bias coordinate.
func TestPooledRowsSetZeroColumnsAside(t *testing.T) {
	const rows, cols = 60, 9
	rnd := rand.New(rand.NewPCG(7, 7))
	data := make([]float32, rows*cols)
	for i := range rows {
		for j := range cols {
			if j != 0 && j != 4 && j != 8 {
				data[i*cols+j] = float32(rnd.NormFloat64() + float64(j))
			}
		}
	}
	if keep := nonzeroColumns(data, rows, cols); len(keep) != cols-3 {
		t.Fatalf("nonzeroColumns kept %v, want every column but 0, 4 and 8", keep)
	}
	for _, opts := range []analysis.FactorOptions{{}, {Centered: true}, {AppendOne: true}} {
		r := &pooledRows{passes: 2}
		r.add(&hooks.Matrix{Rows: rows / 2, Cols: cols, F32: data[:rows/2*cols]})
		r.add(&hooks.Matrix{Rows: rows / 2, Cols: cols, F32: data[rows/2*cols:]})
		dim := analysis.FactorDim(cols, opts)
		got, err := analysis.Eigen(r.factor(dim, false, opts), nil)
		if err != nil {
			t.Fatal(err)
		}
		got = got.Pad(dim)
		// Brute force: (1/N) Σ x xᵀ over the rows (with a trailing 1, or about their mean).
		d := dim
		full := mat.NewSymDense(d, nil)
		mean := make([]float64, cols)
		if opts.Centered {
			for i := range rows {
				for j := range cols {
					mean[j] += float64(data[i*cols+j]) / rows
				}
			}
		}
		x := make([]float64, d)
		for i := range rows {
			for j := range cols {
				x[j] = float64(data[i*cols+j]) - mean[j]
			}
			if opts.AppendOne {
				x[cols] = 1
			}
			for a := range d {
				for b := a; b < d; b++ {
					full.SetSym(a, b, full.At(a, b)+x[a]*x[b]/rows)
				}
			}
		}
		var es mat.EigenSym
		if !es.Factorize(full, false) {
			t.Fatal("brute-force eigen-decomposition failed")
		}
		want := es.Values(nil)
		for k := range d {
			w := math.Max(want[d-1-k], 0)
			if math.Abs(got.Values[k]-w) > 1e-9*want[d-1] {
				t.Errorf("%+v: λ%d = %v, brute force %v", opts, k+1, got.Values[k], w)
			}
		}
	}
}
