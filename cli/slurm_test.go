package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// slurmCluster skips the test unless Slurm's commands are installed and a cluster answers
// (scripts/slurm-local.sh start runs one on this machine). LWCA_REQUIRE_SLURM=1, as CI sets
// it, makes a missing cluster a failure instead.
func slurmCluster(t *testing.T) {
	t.Helper()
	fail := t.Skipf
	if os.Getenv("LWCA_REQUIRE_SLURM") == "1" {
		fail = t.Fatalf
	}
	if _, err := exec.LookPath("sbatch"); err != nil {
		fail("no Slurm here (sbatch not found): install slurm-wlm and munge, then run scripts/slurm-local.sh start")
		return
	}
	if out, err := exec.Command("sinfo", "--noheader", "--format=%a").CombinedOutput(); err != nil || !strings.Contains(string(out), "up") {
		fail("no Slurm cluster answers (sinfo: %v %s): scripts/slurm-local.sh start runs one on this machine", err, bytes.TrimSpace(out))
	}
}

// Six runs of a few seconds each: long enough that a task can be stopped mid-run.
const slurmSweep = `name: slurmtest
data:
  dataset: synthetic
  batch_size: 32
  eval_batch_size: 200
  synthetic: {classes: 4, dim: 16, train: 1024, test: 200, separation: 3.0, noise: 1.0}
model: {arch: mlp, depth: 3, width: 32, norm: batchnorm}
optim: {lr: 0.05, momentum: 0.9}
train: {epochs: 6, checkpoint_every: 10}
analysis: {every: 4}
sweep:
  optim.lr: [0.02, 0.05, 0.1]
  seed: [1, 2]
`

// slurmControl runs a Slurm command the test needs, failing the test on error.
func slurmControl(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// taskState is the task's squeue state, "" once it has left the queue.
func taskState(task string) string {
	out, err := exec.Command("squeue", "--noheader", "--array", "--jobs="+task, "--format=%T").Output()
	if err != nil {
		return "" // squeue refuses a job ID it no longer knows
	}
	return strings.TrimSpace(string(out))
}

// waitFor polls cond every 100 ms until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, limit)
		}
	}
}

// stepsOf counts the train records of a run's metrics.jsonl.
func stepsOf(dir string) int {
	b, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	return bytes.Count(b, []byte(`"type":"train"`))
}

// A sweep submitted to a real Slurm, 2 tasks at a time: one task is cancelled mid-run and
// requeued, another is requeued while it runs (as a preemption does). Both continue from
// their checkpoints, and every run's result files equal a local sweep's byte for byte.
func TestSlurmSweepResumesStoppedTasksExactly(t *testing.T) {
	bin := lwcaBinary(t)
	slurmCluster(t)
	work := t.TempDir()
	cfg := filepath.Join(work, "slurmtest.yaml")
	if err := os.WriteFile(cfg, []byte(slurmSweep), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(work, "slurm")
	sweep := exec.Command(bin, "sweep", cfg, "--out", dir, "--executor", "slurm", "--workers", "2", "--time", "10:00")
	// Its runs take a second or two: look at the queue often enough to see them running.
	sweep.Env = append(os.Environ(), "LWCA_SLURM_POLL=200ms")
	var stdout, stderr bytes.Buffer
	sweep.Stdout, sweep.Stderr = &stdout, &stderr
	if err := sweep.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sweep.Wait() }()
	var job string
	t.Cleanup(func() {
		if job != "" {
			exec.Command("scancel", job).Run()
		}
		sweep.Process.Kill()
	})
	waitFor(t, 30*time.Second, "slurm.json", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "slurm.json"))
		var jobs struct {
			Submissions []struct {
				JobID string `json:"job_id"`
			}
		}
		if err == nil && json.Unmarshal(b, &jobs) == nil && len(jobs.Submissions) == 1 {
			job = jobs.Submissions[0].JobID
		}
		return job != ""
	})
	run := func(i int) string {
		names := []string{"lr=0.02,seed=1", "lr=0.02,seed=2", "lr=0.05,seed=1", "lr=0.05,seed=2", "lr=0.1,seed=1", "lr=0.1,seed=2"}
		return filepath.Join(dir, names[i])
	}
	total := 6 * 1024 / 32
	// stop stops task i once its run has passed a checkpoint, by cancelling or requeueing it,
	// checks that it stopped gracefully mid-run, and lets it run again.
	stop := func(i int, how string) {
		task := fmt.Sprintf("%s_%d", job, i)
		waitFor(t, 90*time.Second, task+" past step 15", func() bool { return stepsOf(run(i)) > 15 })
		if how == "cancel" {
			slurmControl(t, "scancel", task)
			waitFor(t, 60*time.Second, task+" out of the queue", func() bool { return taskState(task) == "" })
		}
		slurmControl(t, "scontrol", "requeue", task)
		waitFor(t, 60*time.Second, task+" pending again", func() bool { return taskState(task) == "PENDING" })
		b, err := os.ReadFile(filepath.Join(run(i), "summary.json"))
		var sum struct {
			Status string
			Steps  int
		}
		if err != nil || json.Unmarshal(b, &sum) != nil || sum.Status != "stopped" || sum.Steps <= 15 || sum.Steps >= total {
			t.Fatalf("%s after %s: summary %s (%v); expected a run stopped mid-run", task, how, b, err)
		}
		// Slurm holds a requeued job back a while; let it start now.
		slurmControl(t, "scontrol", "update", "jobid="+task, "starttime=now")
	}
	stop(1, "cancel")
	stop(3, "requeue")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("lwca sweep --executor slurm: %v\n%s\n%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("the sweep did not end in 3 minutes:\n%s", stderr.String())
	}
	// Table rows: the status column is padded, the progress lines say "completed after".
	if n := strings.Count(stdout.String(), "  completed  "); n != 6 {
		t.Errorf("the table shows %d completed runs, want 6:\n%s", n, stdout.String())
	}
	for _, want := range []string{"pending", "running, step", "completed after"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the progress never said %q:\n%s", want, stderr.String())
		}
	}
	for _, i := range []int{1, 3} { // resumed, not started again
		log, _ := os.ReadFile(filepath.Join(dir, "logs", fmt.Sprintf("%d.out", i)))
		if !bytes.Contains(log, []byte("lwca: resuming ")) {
			t.Errorf("task %d's log shows no resume:\n%s", i, log)
		}
	}

	// The same sweep here: byte-identical result files.
	local := filepath.Join(work, "local")
	if out, err := exec.Command(bin, "sweep", cfg, "--out", local, "--workers", "2", "--quiet").CombinedOutput(); err != nil {
		t.Fatalf("local sweep: %v\n%s", err, out)
	}
	for i := range 6 {
		name := filepath.Base(run(i))
		want, got := resultFiles(t, filepath.Join(local, name)), resultFiles(t, run(i))
		for _, f := range []string{"metrics.jsonl", "conditioning.jsonl"} {
			if len(want[f]) == 0 {
				t.Errorf("%s: the local run has no %s", name, f)
			}
		}
		sameFiles(t, want, got, name)
	}

	// Again: every run has completed, so nothing is submitted; status reports the table.
	out, err := exec.Command(bin, "sweep", cfg, "--out", dir, "--executor", "slurm", "--wait=false").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no run to submit") {
		t.Errorf("second submission: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "sweep", "status", dir).CombinedOutput()
	if err != nil || strings.Count(string(out), "  completed  ") != 6 {
		t.Errorf("lwca sweep status: %v\n%s", err, out)
	}
}
