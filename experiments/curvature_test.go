package experiments

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/curvature"
	"github.com/lwca/lwca/curvature/netcurv"
	"github.com/lwca/lwca/data"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// analysis.curvature writes one curvature record per layer and analysis step, reproducibly,
// leaves training untouched, satisfies the block bounds of the PSD matrices, and leaves the run readable by
// compare with the same layers.
func TestCurvatureRecords(t *testing.T) {
	base := t.TempDir()
	runInto(t, smokeConfig(t, "train.epochs=1"), base)
	// fidelity_max_params 50 leaves fc1 and fc2 (9·12 and 13·12 weights) out of the K-FAC
	// fidelity of base; the full preset measures it in every layer.
	cfg := smokeConfig(t, "train.epochs=1", "analysis.curvature.preset=full", "analysis.curvature.batch_size=40",
		"analysis.curvature.every=8", "analysis.curvature.probes=3", "analysis.curvature.nodes=5", "analysis.fidelity_max_params=50")
	dir, again := t.TempDir(), t.TempDir()
	runInto(t, cfg, dir)
	runInto(t, cfg, again)
	a, _ := os.ReadFile(filepath.Join(dir, ConditioningFile))
	b, _ := os.ReadFile(filepath.Join(again, ConditioningFile))
	if !bytes.Equal(a, b) {
		t.Fatal("two runs of one config wrote different curvature records")
	}
	want, _ := os.ReadFile(filepath.Join(base, MetricsFile))
	got, _ := os.ReadFile(filepath.Join(dir, MetricsFile))
	if !bytes.Equal(got, want) {
		t.Fatal("curvature analysis changed the training metrics")
	}
	fidelityLayers := func(dir string) []string {
		var out []string
		for _, r := range readRecords(t, filepath.Join(dir, ConditioningFile)) {
			if _, ok := r["kfac_rel_frobenius"]; ok && r["step"] == 0.0 {
				out = append(out, r["layer"].(string))
			}
		}
		return out
	}
	small := t.TempDir()
	runInto(t, smokeConfig(t, "train.epochs=1", "analysis.fidelity_max_params=50"), small)
	if got := fidelityLayers(small); !slices.Equal(got, []string{"fc3"}) {
		t.Errorf("fidelity_max_params 50: K-FAC fidelity of %v, want [fc3]", got)
	}
	if got := fidelityLayers(dir); !slices.Equal(got, []string{"fc1", "fc2", "fc3"}) {
		t.Errorf("the full preset: K-FAC fidelity of %v, want every layer", got)
	}
	var steps []float64
	n := 0
	for _, r := range readRecords(t, filepath.Join(dir, ConditioningFile)) {
		if r["factor"] != FactorCurvature {
			continue
		}
		if ratio, want := r["kfac_lambda_max_ratio"], r["kfac_lambda_max"].(float64)/r["ef_lambda_max"].(float64); ratio != want {
			t.Errorf("%v step %v: kfac_lambda_max_ratio %v, want K-FAC's λmax over the EF block's, %v", r["layer"], r["step"], ratio, want)
		}
		n++
		if !slices.Contains(steps, r["step"].(float64)) {
			steps = append(steps, r["step"].(float64))
		}
		for _, k := range []string{"hessian_lambda_max", "ggn_lambda_max", "ef_lambda_max", "kfac_lambda_max", "ef_trace",
			"network_hessian_lambda_max", "network_hessian_exact", "network_ggn_lambda_max", "network_ef_lambda_max", "network_sharpness_ratio",
			"network_hessian_trace", "network_hessian_density_nodes", "network_ggn_density_weights", "network_ef_density_nodes"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("record %v lacks %s", r, k)
			}
		}
		for _, m := range []string{"ggn", "ef"} {
			whole := r["network_"+m+"_lambda_max"].(float64)
			lo, hi := r["network_"+m+"_block_lambda_max_max"].(float64), r["network_"+m+"_block_lambda_max_sum"].(float64)
			if whole < lo*(1-1e-6) || whole > hi*(1+1e-6) {
				t.Errorf("step %v: %s λmax %g outside the block bounds [%g, %g]", r["step"], m, whole, lo, hi)
			}
		}
		thr := r["network_stability_threshold"].(float64)
		if ratio := r["network_sharpness_ratio"].(float64); math.Abs(ratio-r["network_hessian_lambda_max"].(float64)/thr) > 1e-12*ratio {
			t.Errorf("sharpness ratio %g is not λmax/threshold", ratio)
		}
	}
	// 160/16 = 10 steps: analysis at 0, 4, 8; curvature at 0 and 8; three layers.
	if !slices.Equal(steps, []float64{0, 8}) || n != 6 {
		t.Fatalf("curvature records at steps %v, %d records", steps, n)
	}
	r, err := compare.LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l := r.Layers(); !slices.Equal(l, []string{"fc1", "fc2", "fc3"}) {
		t.Fatalf("compare sees layers %v", l)
	}
}

// sharpnessAnalyzer returns the sharpness analyzer of a small BatchNorm MLP (on n samples of
// synthetic data), its float32 store and a training probe on the analyzer's batch size.
func sharpnessAnalyzer(t *testing.T, n int) (*curvatureAnalyzer, *graph.Store, *train.Trainer) {
	t.Helper()
	cfg := smokeConfig(t, "analysis.curvature.preset=sharpness", fmt.Sprintf("analysis.curvature.batch_size=%d", n))
	net, err := nets.MLP(nets.MLPSpec{Input: 8, Depth: 3, Width: 12, Classes: 3, Norm: nets.BatchNorm, Bias: true})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := data.Synthetic(data.SyntheticOptions{Classes: 3, D: 8, NTrain: 160, NTest: 10, Seed: 2})
	store := graph.NewStore(tensor.Float32, 5)
	probe, err := train.NewProbe(net, store, n, 8) // creates the parameters, as the trainer does
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCurvatureAnalyzer(cfg, net, store, set)
	if err != nil {
		t.Fatal(err)
	}
	return c, store, probe
}

// The float64 copy is the training network: same loss on the same batch, with BatchNorm
// buffers and float32 parameters after some training.
func TestCurvatureCopyIsTheNetwork(t *testing.T) {
	c, store, probe := sharpnessAnalyzer(t, 30)
	// Move the float32 parameters away from the copy's initialisation.
	for _, p := range store.Params() {
		for i := range p.Value.Data().([]float32) {
			p.Value.Data().([]float32)[i] += float32(0.01 * float64(i%7))
		}
	}
	c.sync()
	x, y := c.model.Batch()
	want, _, err := probe.Run(x, y, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.model.Loss()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-5*math.Abs(want) {
		t.Fatalf("float64 copy's loss %v, float32 network's %v", got, want)
	}
}

// The sharpness stops at the residual √tol: its value is within tol·λ1²/(λ1 − λ2) of the top
// eigenvalue (plus the float32 products' 1e-5), and the next step starts from its eigenvector:
// at unchanged parameters it converges at once.
func TestCurvatureSharpnessAccuracy(t *testing.T) {
	c, _, _ := sharpnessAnalyzer(t, 60)
	value := func(step int) (float64, float64) {
		recs, err := c.records(step, 0, 0.1, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := recs[0]
		var lambda float64
		var matvecs int
		for _, f := range r {
			switch f.Key {
			case "network_hessian_lambda_max":
				lambda = float64(f.Value.(analysis.Float))
			case "network_hessian_matvecs":
				matvecs = f.Value.(int)
			}
		}
		return lambda, float64(matvecs)
	}
	got, cold := value(0)
	all, _ := c.model.Select()
	h, _ := c.model.Hessian(all, netcurv.Options{})
	exact, err := curvature.Lanczos(h, curvature.LanczosOptions{K: 2, Tol: 1e-12, MaxIter: all.Dim()})
	if err != nil {
		t.Fatal(err)
	}
	l1, l2 := exact.Values[0], exact.Values[1]
	bound := curvTol*l1*l1/(l1-l2) + 1e-5*l1
	t.Logf("sharpness %.9g in %v steps; λ1 %.9g, λ2 %.9g: error %.1e, bound %.1e", got, cold, l1, l2, math.Abs(got-l1), bound)
	if math.Abs(got-l1) > bound {
		t.Fatalf("sharpness %v, λ1 %v: error above %g", got, l1, bound)
	}
	again, warm := value(1)
	if warm > 2 || math.Abs(again-got) > 1e-5*got {
		t.Fatalf("at the same parameters the warm start took %v steps to %v (cold: %v in %v)", warm, again, got, cold)
	}
}
