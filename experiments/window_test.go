package experiments

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lwca/lwca/data"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/rundir"
	"gonum.org/v1/gonum/mat"
)

// windowConfig is a plain MLP (no normalisation: the first layer's input is the data itself)
// whose 40 inputs are more than a 16-sample batch holds, analysed every 10 steps.
func windowConfig(t *testing.T, overrides ...string) config.Config {
	t.Helper()
	return smokeConfig(t, append([]string{"data.synthetic.dim=40", "model.norm=none", "model.depth=2",
		"analysis.every=10", "analysis.p=[0.5, 1.0]", "train.epochs=3", "train.steps=22", "analysis.fidelity_max_params=0"}, overrides...)...)
}

// replayedInputs returns the training batches of steps [from, to] as the rows of one
// float64 matrix, drawn by a batcher of their own with the run's seed.
func replayedInputs(t *testing.T, cfg config.Config, from, to int) *mat.Dense {
	t.Helper()
	trainSet, _, err := LoadData(cfg.Data, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	b := data.NewBatcher(trainSet, cfg.Data.BatchSize, cfg.Data.Shuffle, cfg.Seed)
	x := make([]float32, cfg.Data.BatchSize*trainSet.D)
	y := make([]int32, cfg.Data.BatchSize)
	var rows []float64
	for step := 0; step <= to; step++ {
		b.Next(x, y)
		if step >= from {
			for _, v := range x {
				rows = append(rows, float64(v))
			}
		}
	}
	return mat.NewDense(len(rows)/trainSet.D, trainSet.D, rows)
}

// bruteForceSpectrum returns the eigenvalues of (1/N) XᵀX, descending.
func bruteForceSpectrum(t *testing.T, x *mat.Dense) []float64 {
	t.Helper()
	n, d := x.Dims()
	var s mat.SymDense
	s.SymOuterK(1/float64(n), x.T())
	var es mat.EigenSym
	if !es.Factorize(&s, false) {
		t.Fatal("eigen-decomposition failed")
	}
	v := es.Values(nil)
	out := make([]float64, d)
	for i := range v {
		out[i] = v[d-1-i]
	}
	return out
}

func fc1Input(t *testing.T, dir string, step int) *rundir.ConditioningRecord {
	t.Helper()
	recs, err := rundir.ReadConditioning(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if r := &recs[i]; r.Step == step && r.Layer == "fc1" && r.Factor == FactorInput {
			return r
		}
	}
	t.Fatalf("no fc1 Σx record at step %d", step)
	return nil
}

func closeTo(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(math.Abs(want), 1e-300)
}

// The window source pools the captures of the analysis step and the steps after it: the first
// layer's Σx is then the second moment of exactly those training batches, which a batcher of
// the test's own replays. The automatic window is the fewest steps that give the widest
// factor (40 inputs, 16 rows a step) as many rows as dimensions: 3, so κ_1 is finite where a
// single batch leaves it rank-limited. A window cut short by the end of the run pools the
// steps that remain.
func TestWindowPoolsTheTrainingBatches(t *testing.T) {
	for _, tc := range []struct {
		name           string
		set            []string
		window, lastAt int // steps pooled at steps 0 and 10, and at step 20 (the run has 22)
		rank           int
	}{
		{"auto", nil, 3, 2, 40},
		{"gram route", []string{"analysis.window=2"}, 2, 2, 32}, // 32 rows < 40: Gram of the pooled rows
		{"one step", []string{"analysis.window=1"}, 1, 1, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := windowConfig(t, tc.set...)
			dir := t.TempDir()
			runInto(t, cfg, dir)
			for _, step := range []int{0, 10, 20} {
				k := tc.window
				if step == 20 {
					k = tc.lastAt
				}
				want := bruteForceSpectrum(t, replayedInputs(t, cfg, step, step+k-1))
				r := fc1Input(t, dir, step)
				trace := 0.0
				for _, v := range want {
					trace += v
				}
				if got := r.Value("lambda_max"); !closeTo(got, want[0], 1e-10) {
					t.Errorf("step %d: λmax %v, brute force over steps %d–%d %v", step, got, step, step+k-1, want[0])
				}
				if got := r.Value("trace"); !closeTo(got, trace, 1e-10) {
					t.Errorf("step %d: trace %v, brute force %v", step, got, trace)
				}
				if got := int(r.Value("numerical_rank")); got != min(tc.rank, k*cfg.Data.BatchSize) {
					t.Errorf("step %d: numerical rank %d, want %d", step, got, min(tc.rank, k*cfg.Data.BatchSize))
				}
				if k*cfg.Data.BatchSize >= 40 {
					if got := r.Value("kappa_p1"); !closeTo(got, want[0]/want[39], 1e-8) {
						t.Errorf("step %d: κ_1 %v, brute force %v", step, got, want[0]/want[39])
					}
				} else if got := r.Value("kappa_p1"); !math.IsInf(got, 1) {
					t.Errorf("step %d: κ_1 = %v from %d rows of 40 dimensions, want +Inf (rank-limited)", step, got, k*cfg.Data.BatchSize)
				}
			}
		})
	}
}

// A window longer than the gap between analysis steps is refused with the field's name.
func TestWindowLongerThanEveryIsRefused(t *testing.T) {
	_, err := config.Parse("w.yaml", []byte("name: w\ndata: {dataset: mnist}\nanalysis: {every: 4, window: 5}\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "analysis.window") || !strings.Contains(err.Error(), "overlap") {
		t.Fatalf("window 5 with every 4: error %v, want one about analysis.window overlapping", err)
	}
}

// Forming and solving a window's factors beside training (the default) writes the same bytes
// as doing it in turn with training.
func TestWindowConcurrentIsIdentical(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	runInto(t, windowConfig(t, "analysis.concurrent=true"), a)
	runInto(t, windowConfig(t, "analysis.concurrent=false"), b)
	for _, f := range []string{MetricsFile, ConditioningFile} {
		da, errA := os.ReadFile(filepath.Join(a, f))
		db, errB := os.ReadFile(filepath.Join(b, f))
		if errA != nil || errB != nil || len(da) == 0 || !bytes.Equal(da, db) {
			t.Errorf("%s differs between a concurrent and an in-turn analysis (%v, %v)", f, errA, errB)
		}
	}
}
