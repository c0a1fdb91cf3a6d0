package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const tinyRun = `name: tiny
data:
  dataset: synthetic
  batch_size: 16
  eval_batch_size: 50
  synthetic: {classes: 3, dim: 8, train: 96, test: 40}
model: {depth: 3, width: 8}
train: {epochs: 1}
`

// A run name that is not one directory name is refused before anything is written: name=..
// used to clear the working directory's weights/, metrics.jsonl, … and write the run there.
func TestRunNameStaysInsideRuns(t *testing.T) {
	cfg := writeConfig(t, tinyRun)
	work := t.TempDir()
	t.Chdir(work)
	for _, f := range []string{"weights/important.txt", "metrics.jsonl", "summary.json"} {
		os.MkdirAll(filepath.Dir(f), 0o755)
		os.WriteFile(f, []byte("mine"), 0o644)
	}
	for _, name := range []string{"..", "../../escape", "", "a/b"} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"run", cfg, "--set", "name=" + name, "--set", "train.steps=2", "--backend", "gonum"}, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "--set name="+name+": name: ") || !strings.Contains(stderr.String(), "expected") {
			t.Errorf("name %q: exit %d, %s", name, code, stderr.String())
		}
	}
	for _, f := range []string{"weights/important.txt", "metrics.jsonl", "summary.json"} {
		if b, err := os.ReadFile(f); err != nil || string(b) != "mine" {
			t.Errorf("%s changed: %q %v", f, b, err)
		}
	}
	for _, f := range []string{"../escape", "runs", "config.yaml"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s was written", f)
		}
	}
	// --overwrite on a directory of other files (no run) is refused too.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"run", cfg, "--out", ".", "--overwrite", "--backend", "gonum"}, &stdout, &stderr); code != 0 {
		t.Logf("%s", stderr.String()) // summary.json is there: it looks like a run, so only lwca's files go
	}
	if b, err := os.ReadFile("weights/important.txt"); err != nil || string(b) != "mine" {
		t.Errorf("--overwrite removed weights/important.txt: %q %v", b, err)
	}
	os.Remove("summary.json")
	os.WriteFile("notes.txt", []byte("mine"), 0o644)
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644)
	stderr.Reset()
	if code := run([]string{"run", cfg, "--out", other, "--overwrite", "--backend", "gonum"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "holds no run") {
		t.Errorf("--overwrite into a directory without a run: exit %d, %s", code, stderr.String())
	}
}

// --resume with no checkpoint yet starts again from step 0 and says so, instead of sending
// the user to a plain run, which refuses the directory.
func TestResumeWithoutCheckpoint(t *testing.T) {
	cfg := writeConfig(t, tinyRun)
	dir := filepath.Join(t.TempDir(), "run")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"run", cfg, "--out", dir, "--backend", "gonum"}, &stdout, &stderr); code != 0 {
		t.Fatalf("run: %s", stderr.String())
	}
	want, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	// What a crash before the first checkpoint leaves: config.yaml, partial records.
	os.RemoveAll(filepath.Join(dir, "checkpoint"))
	os.WriteFile(filepath.Join(dir, "metrics.jsonl"), want[:len(want)/2], 0o644)
	stderr.Reset()
	if code := run([]string{"run", "--resume", dir, "--backend", "gonum"}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "starting again from step 0") {
		t.Fatalf("resume without a checkpoint: exit %d, %s", code, stderr.String())
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl")); !bytes.Equal(got, want) {
		t.Error("metrics.jsonl differs from the uninterrupted run's")
	}
	if code := run([]string{"run", cfg, "--allow-config-change"}, &stdout, &stderr); code != 2 {
		t.Errorf("--allow-config-change without --resume: exit %d", code)
	}
}
