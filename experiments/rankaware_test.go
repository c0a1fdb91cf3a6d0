package experiments

import (
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/rundir"
)

// The MNIST MLP's records never carry a quotient of round-off as a condition number: every κ
// key is +Inf exactly where the report's rule calls it rank-limited. On the default 128-sample
// batch most κ_p of the 784- and 256-dimensional factors are rank-limited. On a fixed sample
// of 1024, larger than every layer's width (in chunks of 128, training's batch size), each κ
// and κ_p of Σx and Σ∇h at the default p is finite except the genuinely singular ones: fc1's Σx has rank 1 + the number of pixels that are not
// constant over the sample (the blank ones are all one value after standardisation; counted
// here from the data), and the last layer's Σ∇h has rank 9 (softmax gradients sum to zero
// over the classes).
func TestMNISTRecordsAreRankAware(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the MNIST MLP for two steps")
	}
	small := []string{"data.train_limit=1024", "data.test_limit=32", "train.steps=2", "analysis.every=1",
		"analysis.fidelity_max_params=0", "analysis.spectra=false"}
	for _, tc := range []struct {
		name string
		set  []string
	}{
		{"batch", nil},
		{"fixed1024", []string{"analysis.source=fixed", "analysis.batch_size=1024", "analysis.chunk_size=128"}},
		// The default: windows of 7 steps (896 rows) from steps 0 and 8.
		{"window", []string{"analysis.source=window", "analysis.every=8", "train.steps=15"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load(filepath.Join("..", "configs", "mnist_mlp_bn.yaml"), append(small, tc.set...))
			if err != nil {
				t.Fatal(err)
			}
			trainSet, _, err := LoadData(cfg.Data, cfg.Seed)
			if err != nil {
				t.Fatal(err)
			}
			rank := map[string]int{"fc1/x": 1 + varyingColumns(trainSet.X, trainSet.N, trainSet.D), "fc4/grad": 9}
			dir := t.TempDir()
			runInto(t, cfg, dir)
			recs, err := rundir.ReadConditioning(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2*4*3 {
				t.Fatalf("%d records, want 24", len(recs))
			}
			limited := 0
			for i := range recs {
				r := &recs[i]
				for key, v := range r.Values {
					if key != "kappa" && !strings.HasPrefix(key, "kappa_p") {
						continue
					}
					rl := compare.RankLimited(r, key)
					if rl != math.IsInf(v, 1) {
						t.Errorf("step %d %s/%s %s = %v, rank-limited %v (numerical_rank %v of %v)",
							r.Step, r.Layer, r.Factor, key, v, rl, r.Value("numerical_rank"), r.Value("dim"))
					}
					if rl {
						limited++
					}
					if tc.name == "window" && rl && !singular(r.Layer, r.Factor, key) {
						t.Errorf("window: step %d %s/%s %s is rank-limited (numerical_rank %v of %v), want finite",
							r.Step, r.Layer, r.Factor, key, r.Value("numerical_rank"), r.Value("dim"))
					}
					if tc.name != "fixed1024" || r.Factor == FactorFisher {
						continue
					}
					d := int(r.Value("dim"))
					k := d
					if p, ok := strings.CutPrefix(key, "kappa_p"); ok {
						pf, _ := strconv.ParseFloat(p, 64)
						k = analysis.PIndex(pf, d)
					}
					rk, ok := rank[r.Layer+"/"+r.Factor]
					if !ok {
						rk = d
					}
					if math.IsInf(v, 1) != (k > rk) {
						t.Errorf("fixed sample: step %d %s/%s %s = %v (numerical_rank %v of %v)",
							r.Step, r.Layer, r.Factor, key, v, r.Value("numerical_rank"), r.Value("dim"))
					}
				}
			}
			if tc.name == "batch" && limited == 0 {
				t.Errorf("no rank-limited κ on a 128-sample batch")
			}
		})
	}
}

// singular reports whether a κ of the MNIST MLP is rank-limited on any sample of about a
// thousand images (README, "Sample size and rank"): κ_1 of the last layer's Σ∇h (rank 9), and
// κ_0.8 and κ_1 of fc1's Σx and of the Fisher blocks built on it (blank pixels).
func singular(layer, factor, key string) bool {
	switch {
	case layer == "fc4" && factor != FactorInput:
		return key == "kappa" || key == "kappa_p1"
	case layer == "fc1" && factor != FactorGradient:
		return key == "kappa" || key == "kappa_p1" || key == "kappa_p0.8"
	}
	return false
}

// varyingColumns counts the columns of the row-major n×d x that are not constant.
func varyingColumns(x []float32, n, d int) int {
	count := 0
	for j := range d {
		for i := 1; i < n; i++ {
			if x[i*d+j] != x[j] {
				count++
				break
			}
		}
	}
	return count
}
