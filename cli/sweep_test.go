package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const tinySweep = `name: tiny
data:
  dataset: synthetic
  batch_size: 16
  eval_batch_size: 50
  synthetic: {classes: 3, dim: 8, train: 96, test: 40}
model: {depth: 3, width: 8}
optim: {lr: 0.05, momentum: 0.9}
train: {epochs: 2}
analysis: {every: 2, p: [0.5, 1]}
sweep:
  model.norm: [none, batchnorm]
  seed: [1, 2]
`

func writeConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// lwca sweep, then lwca compare on its directory, then lwca sweep again (nothing to do).
func TestSweepThenCompare(t *testing.T) {
	cfg := writeConfig(t, tinySweep)
	out := filepath.Join(t.TempDir(), "sweep")
	var stdout, stderr bytes.Buffer
	if err := cmdSweep([]string{cfg, "--out", out, "--workers", "2", "--backend", "gonum"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for _, name := range []string{"norm=none,seed=1", "norm=batchnorm,seed=2"} {
		b, err := os.ReadFile(filepath.Join(out, name, "summary.json"))
		if err != nil {
			t.Fatal(err)
		}
		var sum struct{ Status string }
		json.Unmarshal(b, &sum)
		if sum.Status != "completed" {
			t.Errorf("%s: status %q", name, sum.Status)
		}
	}
	if !strings.Contains(stdout.String(), "norm=batchnorm,seed=1") || !strings.Contains(stdout.String(), "lwca compare "+out) {
		t.Errorf("sweep output:\n%s", stdout.String())
	}
	stdout.Reset()
	if err := cmdCompare([]string{out}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "4 runs in 2 groups") {
		t.Errorf("compare output:\n%s", stdout.String())
	}
	for _, f := range []string{"report.html", "tables.md", "tables/runs.csv", "figures/training.png", "figures/layer_fc1.svg"} {
		if _, err := os.Stat(filepath.Join(out, "compare", f)); err != nil {
			t.Error(err)
		}
	}
	stdout.Reset()
	stderr.Reset()
	if err := cmdSweep([]string{cfg, "--out", out}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stdout.String(), "finished before: skipped"); n != 4 {
		t.Errorf("second sweep skipped %d runs, want 4:\n%s", n, stdout.String())
	}
}

func TestSweepFailuresAndOptions(t *testing.T) {
	bad := strings.Replace(tinySweep, "seed: [1, 2]", "optim.lr:\n    - 0.05\n    - -1", 1)
	cfg := writeConfig(t, bad)
	out := filepath.Join(t.TempDir(), "sweep")
	var stdout, stderr bytes.Buffer
	err := cmdSweep([]string{cfg, "--out", out}, &stdout, &stderr)
	if err == nil || err.Error() != "2 of 4 runs failed" {
		t.Errorf("error %v, want 2 of 4 runs failed", err)
	}
	if !strings.Contains(stdout.String(), "tiny.yaml:15: optim.lr") {
		t.Errorf("table does not point at the bad value's line:\n%s", stdout.String())
	}
	stdout.Reset()
	if err := cmdSweep([]string{cfg, "--out", out, "--dry-run"}, &stdout, &stderr); err == nil ||
		!strings.Contains(stdout.String(), "model.norm=batchnorm optim.lr=-1") {
		t.Errorf("dry run: %v\n%s", err, stdout.String())
	}
	if err := cmdSweep([]string{cfg, "--out", out, "--emit", "slurm"}, &stdout, &stderr); err == nil {
		t.Error("a Slurm script was written for invalid runs")
	}
	good := writeConfig(t, tinySweep)
	stdout.Reset()
	if err := cmdSweep([]string{good, "--out", out, "--emit", "slurm", "--workers", "2"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(out, "sweep.slurm"))
	if err != nil || !bytes.Contains(script, []byte("#SBATCH --array=0-3%2\n")) || !strings.Contains(stdout.String(), "sbatch ") {
		t.Errorf("slurm: %v\n%s\n%s", err, script, stdout.String())
	}
	for _, args := range [][]string{{}, {good, "extra.yaml"}, {good, "--workers", "0"}, {good, "--emit", "pbs"}} {
		var ue usageError
		if err := cmdSweep(args, &stdout, &stderr); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
