package cli

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// lwcaBinary builds the command once per test binary.
func lwcaBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the lwca binary")
	}
	bin := filepath.Join(t.TempDir(), "lwca")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/lwca").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

const killConfig = `name: kill
seed: 5
data:
  dataset: synthetic
  batch_size: 32
  eval_batch_size: 200
  synthetic: {classes: 5, dim: 24, train: 960, test: 200, separation: 3.0, noise: 1.0}
model: {arch: mlp, depth: 3, width: 32, norm: batchnorm}
optim: {lr: 0.05, momentum: 0.9, weight_decay: 1.0e-4}
train: {epochs: 4, checkpoint_every: 7}
analysis: {every: 3, save_weights_every: 25}
`

func resultFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, pattern := range []string{"*.yaml", "*.jsonl", "spectra/*", "weights/*/*"} {
		matches, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, m := range matches {
			b, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(dir, m)
			out[rel] = b
		}
	}
	return out
}

// allPaths lists every file and directory under dir, hidden ones included, but the lock file,
// which a run leaves by design.
func allPaths(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(dir, path); rel != "." && rel != ".lwca.lock" {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFiles(t *testing.T, want, got map[string][]byte, what string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d files, uninterrupted run has %d", what, len(got), len(want))
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || !bytes.Equal(w, g) {
			t.Errorf("%s: %s differs from the uninterrupted run (%d vs %d bytes)", what, name, len(g), len(w))
		}
	}
}

// SIGKILL at random moments (during steps, analysis, checkpoint writes), then --resume until
// the run completes: the result files equal an uninterrupted run's byte for byte.
func TestKillAndResume(t *testing.T) {
	bin := lwcaBinary(t)
	work := t.TempDir()
	cfgPath := filepath.Join(work, "kill.yaml")
	os.WriteFile(cfgPath, []byte(killConfig), 0o644)
	ref := filepath.Join(work, "ref")
	start := time.Now()
	if out, err := exec.Command(bin, "run", cfgPath, "--out", ref).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	full := time.Since(start)
	want := resultFiles(t, ref)
	rng := rand.New(rand.NewPCG(1, 2))
	trials := 3 // LWCA_KILL_TRIALS=50 for a longer campaign
	if n, err := strconv.Atoi(os.Getenv("LWCA_KILL_TRIALS")); err == nil && n > 0 {
		trials = n
	}
	for trial := 0; trial < trials; trial++ {
		dir := filepath.Join(work, "killed", strconv.Itoa(trial))
		args := []string{"run", cfgPath, "--out", dir}
		kills := 0
		for attempt := 0; ; attempt++ {
			if attempt > 30 {
				t.Fatal("the run did not complete after 30 attempts")
			}
			cmd := exec.Command(bin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			began := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			delay := time.Duration(rng.Float64() * float64(full) * 0.7)
			var err error
			select {
			case err = <-done:
			case <-time.After(delay):
				cmd.Process.Signal(syscall.SIGKILL)
				err = <-done
				kills++
			}
			if err == nil && kills == 0 {
				// Finished before its kill: the machine is faster than when the reference
				// ran. A trial counts only with a kill, so start it again, timed by this run.
				full = time.Since(began)
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				args = []string{"run", cfgPath, "--out", dir}
				continue
			}
			if err == nil {
				break
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || (ee.ExitCode() != -1 && ee.ExitCode() != 0) {
				t.Fatalf("attempt %d: %v\n%s", attempt, err, stderr.String())
			}
			// Once config.yaml is there the directory is resumable, before the first
			// checkpoint too (resume starts again from step 0).
			if _, err := os.Stat(filepath.Join(dir, "config.yaml")); err == nil {
				args = []string{"run", "--resume", dir}
			} else {
				args = []string{"run", cfgPath, "--out", dir, "--overwrite"}
			}
		}
		t.Logf("trial %d: %d kills", trial, kills)
		sameFiles(t, want, resultFiles(t, dir), "after kills")
		// No file an uninterrupted run lacks: no temporary left behind anywhere.
		if w, g := allPaths(t, ref), allPaths(t, dir); !slices.Equal(w, g) {
			t.Errorf("trial %d: the killed run's tree differs from the uninterrupted run's:\n%v\n%v", trial, g, w)
		}
	}
}

// SIGTERM finishes the step, checkpoints and exits with status 3; --resume completes the run
// with the files of an uninterrupted one.
func TestTerminateAndResume(t *testing.T) {
	bin := lwcaBinary(t)
	work := t.TempDir()
	cfgPath := filepath.Join(work, "kill.yaml")
	os.WriteFile(cfgPath, []byte(killConfig), 0o644)
	ref := filepath.Join(work, "ref")
	if out, err := exec.Command(bin, "run", cfgPath, "--out", ref).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	dir := filepath.Join(work, "term")
	cmd := exec.Command(bin, "run", cfgPath, "--out", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until training is under way, then ask it to stop.
	for i := 0; i < 200; i++ {
		if b, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl")); bytes.Count(b, []byte("\n")) > 5 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("after SIGTERM: %v (want exit status 3)\n%s", err, stderr.String())
	}
	sum, _ := os.ReadFile(filepath.Join(dir, "summary.json"))
	if !bytes.Contains(sum, []byte(`"status": "stopped"`)) {
		t.Fatalf("summary after SIGTERM: %s", sum)
	}
	if out, err := exec.Command(bin, "run", "--resume", dir).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	sameFiles(t, resultFiles(t, ref), resultFiles(t, dir), "after SIGTERM")
}
