package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/results"
)

func smokeConfig(t *testing.T, overrides ...string) config.Config {
	t.Helper()
	src := []byte(`
name: test
seed: 3
data:
  dataset: synthetic
  batch_size: 16
  eval_batch_size: 50
  synthetic: {classes: 3, dim: 8, train: 160, test: 70, separation: 3.0, noise: 1.0}
model: {arch: mlp, depth: 3, width: 12, norm: batchnorm}
optim: {lr: 0.05, momentum: 0.9}
train: {epochs: 2}
analysis: {every: 4, p: [0.5, 1.0]}
`)
	cfg, err := config.Parse("test.yaml", src, overrides)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func runInto(t *testing.T, cfg config.Config, dir string) *Summary {
	t.Helper()
	sum, err := Run(context.Background(), cfg, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func readRecords(t *testing.T, path string) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := results.ReadLog(path, func(b []byte) error {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Same config and seed ⇒ byte-identical result files (summary.json differs only in timing).
func TestRunIsDeterministic(t *testing.T) {
	for _, dtype := range []string{"float32", "float64"} {
		cfg := smokeConfig(t, "train.dtype="+dtype, "analysis.concurrent=true")
		a, b := t.TempDir(), t.TempDir()
		sa, sb := runInto(t, cfg, a), runInto(t, cfg, b)
		for _, f := range []string{ConfigFile, MetricsFile, ConditioningFile} {
			da, _ := os.ReadFile(filepath.Join(a, f))
			db, _ := os.ReadFile(filepath.Join(b, f))
			if len(da) == 0 || !bytes.Equal(da, db) {
				t.Errorf("%s %s differs between identical runs (%d vs %d bytes)", dtype, f, len(da), len(db))
			}
		}
		sa.WallSeconds, sb.WallSeconds = 0, 0
		ja, _ := json.Marshal(sa)
		jb, _ := json.Marshal(sb)
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s summaries differ beyond timing:\n%s\n%s", dtype, ja, jb)
		}
		// A different seed gives a different run.
		c := t.TempDir()
		runInto(t, smokeConfig(t, "train.dtype="+dtype, "seed=4"), c)
		da, _ := os.ReadFile(filepath.Join(a, MetricsFile))
		dc, _ := os.ReadFile(filepath.Join(c, MetricsFile))
		if bytes.Equal(da, dc) {
			t.Errorf("%s: seeds 3 and 4 gave identical metrics", dtype)
		}
	}
}

// A run records a train record per step, a test record per epoch and, at every analysis
// step, three factor records for every weighted layer.
func TestRunRecordsEverything(t *testing.T) {
	dir := t.TempDir()
	sum := runInto(t, smokeConfig(t), dir)
	// 160 samples / 16 = 10 steps per epoch, 2 epochs.
	if sum.Status != StatusCompleted || sum.Steps != 20 {
		t.Fatalf("summary %+v", sum)
	}
	var train, test int
	for _, r := range readRecords(t, filepath.Join(dir, MetricsFile)) {
		switch r["type"] {
		case "train":
			train++
		case "test":
			test++
			if acc := r["test_accuracy"].(float64); acc < 0.6 {
				t.Errorf("test accuracy %v on an easy synthetic task", acc)
			}
		}
	}
	if train != 20 || test != 2 {
		t.Errorf("%d train and %d test records, want 20 and 2", train, test)
	}
	seen := map[[3]any]bool{}
	for _, r := range readRecords(t, filepath.Join(dir, ConditioningFile)) {
		seen[[3]any{r["step"], r["layer"], r["factor"]}] = true
		if _, ok := r["kappa_p0.5"]; !ok {
			t.Fatalf("record without kappa_p0.5: %v", r)
		}
	}
	for _, step := range []float64{0, 4, 8, 12, 16} {
		for _, layer := range []string{"fc1", "fc2", "fc3"} {
			for _, f := range []string{FactorInput, FactorGradient, FactorFisher} {
				if !seen[[3]any{step, layer, f}] {
					t.Errorf("no %s record for %s at step %v", f, layer, step)
				}
			}
		}
	}
	if len(seen) != 5*3*3 || sum.AnalysisSteps != 5 {
		t.Errorf("%d conditioning records, %d analysis steps; want 45 and 5", len(seen), sum.AnalysisSteps)
	}
}

// A loss that becomes NaN/Inf ends the run as "diverged" with its step; what was written
// stays.
func TestDivergingRunIsRecorded(t *testing.T) {
	dir := t.TempDir()
	sum := runInto(t, smokeConfig(t, "model.norm=none", "optim.lr=1e4", "optim.momentum=0.99"), dir)
	if sum.Status != StatusDiverged || sum.DivergedAtStep == nil {
		t.Fatalf("status %q, diverged at %v; want diverged", sum.Status, sum.DivergedAtStep)
	}
	recs := readRecords(t, filepath.Join(dir, MetricsFile))
	if len(recs) != *sum.DivergedAtStep+1 {
		t.Errorf("%d metric records for divergence at step %d", len(recs), *sum.DivergedAtStep)
	}
	if last := recs[len(recs)-1]["loss"]; last != "NaN" && last != "+Inf" && last != "-Inf" {
		t.Errorf("last recorded loss %v, want a non-finite marker", last)
	}
	var onDisk Summary
	b, _ := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err := json.Unmarshal(b, &onDisk); err != nil || onDisk.Status != StatusDiverged {
		t.Errorf("summary.json: %s (%v)", b, err)
	}
}

// Cancelling the context stops the run after the current step, status "stopped".
func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum, err := Run(ctx, smokeConfig(t), t.TempDir(), Options{})
	if err != nil || sum.Status != StatusStopped || sum.Steps != 0 {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
}
