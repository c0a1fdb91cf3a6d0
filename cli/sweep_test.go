package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// fakeSlurmCommands puts stand-ins for sbatch (job 42; its arguments go to DIR/sbatch.args),
// squeue (the content of DIR/queue) and sacct (no accounting) first on the PATH.
func fakeSlurmCommands(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	scripts := map[string]string{
		"sbatch": "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + bin + "/sbatch.args\necho 42\n",
		"squeue": "#!/bin/sh\ncat " + bin + "/queue 2>/dev/null\n",
		"sacct":  "#!/bin/sh\necho 'Slurm accounting storage is disabled' >&2\nexit 1\n",
	}
	for name, src := range scripts {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(src), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return bin
}

// The Slurm flags reach sbatch through the script; --wait=false prints the job ID; status
// reports the queue, then the table with each failed task's log.
func TestSweepSlurmCommandLine(t *testing.T) {
	bin := fakeSlurmCommands(t)
	cfg := writeConfig(t, tinySweep)
	out := filepath.Join(t.TempDir(), "sweep")
	var stdout, stderr bytes.Buffer
	args := []string{cfg, "--out", out, "--executor", "slurm", "--workers", "2", "--partition", "debug", "--time", "5:00",
		"--mem", "1G", "--cpus-per-task", "2", "--sbatch-arg=--account=lab", "--sbatch-arg=--requeue", "--wait=false", "--backend", "gonum", "--threads", "1"}
	if err := cmdSweep(args, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if stdout.String() != "42\n" || !strings.Contains(stderr.String(), "lwca sweep status "+out) {
		t.Errorf("--wait=false: stdout %q, stderr %s", stdout.String(), stderr.String())
	}
	sbatchArgs, _ := os.ReadFile(filepath.Join(bin, "sbatch.args"))
	if want := "--parsable\n--array=0-3%2\n" + filepath.Join(out, "sweep.slurm") + "\n"; string(sbatchArgs) != want {
		abs, _ := filepath.Abs(out)
		if want = strings.Replace(want, out, abs, 1); string(sbatchArgs) != want {
			t.Errorf("sbatch got\n%s\nwant\n%s", sbatchArgs, want)
		}
	}
	script, _ := os.ReadFile(filepath.Join(out, "sweep.slurm"))
	for _, line := range []string{"--partition=debug", "--time=5:00", "--mem=1G", "--cpus-per-task=2", "--account=lab", "--requeue"} {
		if !bytes.Contains(script, []byte("\n#SBATCH "+line+"\n")) {
			t.Errorf("the script lacks #SBATCH %s:\n%s", line, script)
		}
	}
	// Each task's lwca run takes the global flags.
	if n := bytes.Count(script, []byte(` --overwrite '--backend=gonum' '--threads=1'`+"\n")) + bytes.Count(script, []byte(`}" '--backend=gonum' '--threads=1'`+"\n")); n != 2 {
		t.Errorf("the script's lwca run lines lack the global flags:\n%s", script)
	}
	// The tasks run this program unless $LWCA says otherwise.
	if exe, _ := os.Executable(); !bytes.Contains(script, []byte("lwca=${LWCA:-'"+exe+"'}")) {
		t.Errorf("the script does not default to %s:\n%s", exe, script)
	}

	os.WriteFile(filepath.Join(bin, "queue"), []byte("42|0|RUNNING|None\n42|1|PENDING|Priority\n42|2|PENDING|Priority\n42|3|PENDING|Priority\n"), 0o644)
	stdout.Reset()
	if err := cmdSweep([]string{"status", out}, &stdout, &stderr); err != nil || !strings.Contains(stdout.String(), "running, step 0 [task 42_0]") ||
		!strings.Contains(stdout.String(), "pending (Priority) [task 42_3]") || !strings.Contains(stdout.String(), "4 of 4 tasks pending or running") {
		t.Errorf("status while queued: %v\n%s", err, stdout.String())
	}
	// The queue empties, no run began: every task failed, and its row names its log.
	os.WriteFile(filepath.Join(bin, "queue"), nil, 0o644)
	stdout.Reset()
	err := cmdSweep([]string{"status", out, "--wait"}, &stdout, &stderr)
	if err == nil || err.Error() != "4 of 4 runs failed" || !strings.Contains(stdout.String(), "task 42_2: the task ended without a run") ||
		!strings.Contains(stdout.String(), filepath.Join(out, "logs", "2.out")) {
		t.Errorf("status after the tasks: %v\n%s", err, stdout.String())
	}
	// Submitting again sends the failed runs once more, as job 42 again here.
	os.Remove(filepath.Join(bin, "sbatch.args"))
	if err := cmdSweep([]string{cfg, "--out", out, "--executor", "slurm", "--wait=false", "--quiet"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(bin, "sbatch.args")); !bytes.Contains(again, []byte("--array=0-3\n")) {
		t.Errorf("submitting again sent %q, want the four failed runs again (--array=0-3)", again)
	}

	for _, args := range [][]string{
		{cfg, "--partition", "debug"}, {cfg, "--wait=false"}, // Slurm's flags without Slurm
		{cfg, "--executor", "pbs"},
		{cfg, "--executor", "slurm", "--emit", "slurm"},
		{cfg, "--executor", "slurm", "--overwrite"},
		{cfg, "--executor", "slurm", "--cpus-per-task", "0"},
		{cfg, "--executor", "slurm", "--sbatch-arg", "account=lab"},
		{cfg, "--executor", "slurm", "--backend", "fast"},
		{cfg, "--emit", "slurm", "--threads", "-1"},
		{"status"},
	} {
		var ue usageError
		if err := cmdSweep(args, &stdout, &stderr); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if err := cmdSweep([]string{"status", t.TempDir()}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "manifest.json") {
		t.Errorf("status of no sweep: %v", err)
	}
}

func TestSlurmPollInterval(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 5 * time.Second, "500ms": 500 * time.Millisecond, "2m": 2 * time.Minute,
		"soon": 5 * time.Second, "-1s": 5 * time.Second, "0": 5 * time.Second} {
		if got := pollInterval(v); got != want {
			t.Errorf("LWCA_SLURM_POLL=%q: %v, want %v", v, got, want)
		}
	}
}
