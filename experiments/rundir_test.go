package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lwca/lwca/experiments/config"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// A run into a directory that holds other files but no run is refused, and nothing in it is
// touched; a run replacing an earlier run removes only lwca's own files.
func TestRunRemovesOnlyItsOwnFiles(t *testing.T) {
	cfg := smokeConfig(t, "train.steps=3", "analysis.save_weights_every=2")
	dir := t.TempDir()
	for _, f := range []string{"notes.txt", "weights/important.txt", MetricsFile, "checkpoint/x"} {
		writeFile(t, filepath.Join(dir, f), "mine")
	}
	_, err := Run(context.Background(), cfg, dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "holds no run") {
		t.Fatalf("run into a directory of other files: %v, want a refusal", err)
	}
	for _, f := range []string{"notes.txt", "weights/important.txt", MetricsFile, "checkpoint/x"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(b) != "mine" {
			t.Errorf("%s changed by a refused run: %q %v", f, b, err)
		}
	}
	if exists(filepath.Join(dir, LockFile)) {
		t.Error("a refused run left its lock file")
	}

	// A run directory: the earlier run's files go, the user's stay.
	os.Remove(filepath.Join(dir, "notes.txt"))
	os.Remove(filepath.Join(dir, MetricsFile))
	os.RemoveAll(filepath.Join(dir, "checkpoint"))
	runInto(t, cfg, dir)
	writeFile(t, filepath.Join(dir, "notes.txt"), "mine")
	writeFile(t, filepath.Join(dir, SpectraDir, "mine.csv"), "mine")
	writeFile(t, filepath.Join(dir, AnalysisDir, "step_2", ConfigFile), "stale")
	writeFile(t, filepath.Join(dir, WeightsDir, "step_2", ".fc1.weight.npy.tmp123"), "orphan")
	writeFile(t, filepath.Join(dir, ".summary.json.tmp456"), "orphan")
	runInto(t, override(t, cfg, "train.steps=1"), dir)
	for _, f := range []string{"notes.txt", "weights/important.txt", "spectra/mine.csv"} {
		if !exists(filepath.Join(dir, f)) {
			t.Errorf("%s was removed", f)
		}
	}
	for _, f := range []string{"weights/step_2", "analysis/step_2", ".summary.json.tmp456"} {
		if exists(filepath.Join(dir, f)) {
			t.Errorf("%s of the earlier run is still there", f)
		}
	}
	if !exists(filepath.Join(dir, WeightsDir, "step_0", "model.json")) {
		t.Error("the new run's weights are missing")
	}
}

// override applies overrides or fails the test.
func override(t *testing.T, c config.Config, ovs ...string) config.Config {
	t.Helper()
	o, err := c.Override(ovs...)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// A second process (here a second open) cannot work in a locked run directory, and the
// error names the holder's PID; the directory's files are untouched.
func TestRunDirectoryIsLocked(t *testing.T) {
	cfg := smokeConfig(t, "train.steps=4", "train.checkpoint_every=2", "analysis.save_weights_every=2")
	dir := t.TempDir()
	runInto(t, cfg, dir)
	before, _ := os.ReadFile(filepath.Join(dir, MetricsFile))
	lock, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	busy := t.TempDir() // an analysis output another process writes
	busyLock, err := LockDir(busy)
	if err != nil {
		t.Fatal(err)
	}
	defer busyLock.Release()
	pid := fmt.Sprintf("process %d", os.Getpid())
	for what, f := range map[string]func() error{
		"run":     func() error { _, err := Run(context.Background(), cfg, dir, Options{}); return err },
		"resume":  func() error { _, err := Resume(context.Background(), dir, Options{}); return err },
		"lock":    func() error { l, err := LockDir(dir); l.Release(); return err },
		"analyze": func() error { _, err := Analyze(context.Background(), dir, AnalyzeOptions{Out: busy}); return err },
	} {
		if err := f(); err == nil || !strings.Contains(err.Error(), pid) || !strings.Contains(err.Error(), "in use") {
			t.Errorf("%s in a locked directory: %v, want an error naming %s", what, err, pid)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(dir, MetricsFile)); string(after) != string(before) {
		t.Error("metrics.jsonl changed under the lock")
	}
	lock.Release()
	if _, err := Resume(context.Background(), dir, Options{}); err != nil {
		t.Fatalf("resume after the lock is released: %v", err)
	}
}

// Temporary files that a killed process left (a weights save, an atomic file write) are gone
// after a resume, and a resumed run still equals an uninterrupted one.
func TestResumeRemovesOrphans(t *testing.T) {
	cfg := smokeConfig(t, "train.checkpoint_every=3", "analysis.save_weights_every=4")
	ref := t.TempDir()
	runInto(t, cfg, ref)
	dir := t.TempDir()
	stopAfter(t, cfg, dir, 5)
	orphans := []string{
		filepath.Join(WeightsDir, ".step_8.tmp123", "fc1.weight.npy"),
		filepath.Join(WeightsDir, "step_4", ".bn1.scale.npy.tmp783127636"),
		".config.yaml.tmp42", ".summary.json.tmp7",
		filepath.Join(SpectraDir, ".index.json.tmp9"),
		filepath.Join(CheckpointDir+".tmp", "state.json"),
	}
	for _, f := range orphans {
		writeFile(t, filepath.Join(dir, f), "partial")
	}
	if _, err := Resume(context.Background(), dir, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range orphans {
		if exists(filepath.Join(dir, f)) {
			t.Errorf("%s survived the resume", f)
		}
	}
	compareRunDirs(t, ref, dir)
}

// stopAfter runs cfg into dir and stops it after the given step.
func stopAfter(t *testing.T, cfg config.Config, dir string, step int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sum, err := Run(ctx, cfg, dir, Options{AfterStep: func(s int) {
		if s == step {
			cancel()
		}
	}})
	if err != nil || sum.Status != StatusStopped {
		t.Fatalf("stopping the run: %v %+v", err, sum)
	}
}

// A run that ended before its first checkpoint is resumed from step 0, with its partial
// records cleared, and says so.
func TestResumeBeforeFirstCheckpoint(t *testing.T) {
	cfg := smokeConfig(t, "train.checkpoint_every=500")
	ref := t.TempDir()
	runInto(t, cfg, ref)
	dir := t.TempDir()
	stopAfter(t, cfg, dir, 5)
	// What a crash before the first checkpoint leaves: records, no checkpoint.
	if err := os.RemoveAll(filepath.Join(dir, CheckpointDir)); err != nil {
		t.Fatal(err)
	}
	var msg strings.Builder
	sum, err := Resume(context.Background(), dir, Options{Progress: &msg})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != StatusCompleted || !strings.Contains(msg.String(), "no checkpoint yet") || !strings.Contains(msg.String(), "step 0") {
		t.Errorf("status %s, message %q: want completed, saying it started again from step 0", sum.Status, msg.String())
	}
	compareRunDirs(t, ref, dir)
}

// An edited config.yaml is refused on resume, naming the changed fields, unless allowed; an
// allowed change is recorded in summary.json.
func TestResumeChecksConfig(t *testing.T) {
	cfg := smokeConfig(t, "train.checkpoint_every=3")
	dir := t.TempDir()
	stopAfter(t, cfg, dir, 4)
	edited, err := cfg.Override("optim.lr=0.02", "optim.momentum=0.5")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := edited.Marshal()
	writeFile(t, filepath.Join(dir, ConfigFile), string(b))
	_, err = Resume(context.Background(), dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "optim.lr, optim.momentum") || !strings.Contains(err.Error(), "--allow-config-change") {
		t.Fatalf("resume with an edited config: %v, want a refusal naming optim.lr and optim.momentum", err)
	}
	sum, err := Resume(context.Background(), dir, Options{AllowConfigChange: true})
	if err != nil {
		t.Fatal(err)
	}
	var got Summary
	b, _ = os.ReadFile(filepath.Join(dir, SummaryFile))
	json.Unmarshal(b, &got)
	if len(got.ConfigChanges) != 1 || got.ConfigChanges[0].Step != 5 || strings.Join(got.ConfigChanges[0].Fields, ",") != "optim.lr,optim.momentum" || sum.Status != StatusCompleted {
		t.Errorf("summary.json config_changes %+v (status %s), want one change at step 5 of optim.lr, optim.momentum", got.ConfigChanges, sum.Status)
	}
}

// A checkpoint whose parts disagree on the step is refused.
func TestResumeChecksSteps(t *testing.T) {
	cfg := smokeConfig(t, "train.checkpoint_every=3")
	dir := t.TempDir()
	stopAfter(t, cfg, dir, 4)
	path := filepath.Join(dir, CheckpointDir, "state.json")
	orig, _ := os.ReadFile(path)
	for what, edit := range map[string]func(st map[string]any){
		"step":    func(st map[string]any) { st["step"] = 3.0; st["summary"].(map[string]any)["steps"] = 3.0 },
		"summary": func(st map[string]any) { st["summary"].(map[string]any)["steps"] = 2.0 },
		"batcher": func(st map[string]any) { st["batcher"].(map[string]any)["batch"] = 1.0 },
	} {
		var st map[string]any
		json.Unmarshal(orig, &st)
		edit(st)
		b, _ := json.Marshal(st)
		writeFile(t, path, string(b))
		if _, err := Resume(context.Background(), dir, Options{}); err == nil || !strings.Contains(err.Error(), "expected") {
			t.Errorf("state.json with another %s: %v, want a refusal", what, err)
		}
	}
	writeFile(t, path, string(orig))
	if _, err := Resume(context.Background(), dir, Options{}); err != nil {
		t.Fatalf("the unedited checkpoint: %v", err)
	}
}

// An interrupted lwca analyze --out leaves the earlier analysis as it was, and an --out that
// holds a run is refused.
func TestAnalyzeOutIsAtomic(t *testing.T) {
	cfg := smokeConfig(t, "train.steps=6", "analysis.save_weights_every=3")
	run := t.TempDir()
	runInto(t, cfg, run)
	out := filepath.Join(t.TempDir(), "an")
	if _, err := Analyze(context.Background(), run, AnalyzeOptions{Step: 3, Out: out}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(out, ConditioningFile))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Analyze(ctx, run, AnalyzeOptions{Step: 0, Out: out}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted analysis: %v", err)
	}
	after, err := os.ReadFile(filepath.Join(out, ConditioningFile))
	if err != nil || string(after) != string(before) || !exists(filepath.Join(out, ConfigFile)) {
		t.Errorf("the interrupted analysis changed the earlier one (%v)", err)
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 1 {
		t.Errorf("temporaries beside the output: %v", ents)
	}
	// What a kill between the swap's renames leaves beside out goes with the next analysis.
	writeFile(t, filepath.Join(filepath.Dir(out), ".an.tmp999", ConditioningFile), "partial")
	writeFile(t, filepath.Join(filepath.Dir(out), ".an.old.tmp5", ConditioningFile), "old")
	if _, err := Analyze(context.Background(), run, AnalyzeOptions{Step: 0, Out: out}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("temporaries beside the output after a second analysis: %v", ents)
	}
	if _, err := Analyze(context.Background(), run, AnalyzeOptions{Step: 0, Out: run}); err == nil || !strings.Contains(err.Error(), "which an analysis does not write") {
		t.Errorf("analyze --out into a run directory: %v, want a refusal", err)
	}
	if !exists(filepath.Join(run, MetricsFile)) {
		t.Error("the run directory lost its files")
	}
}

func TestChildDir(t *testing.T) {
	for _, name := range []string{"", ".", "..", "../x", "a/b", "/abs", `a\b`} {
		if d, err := ChildDir("runs", name); err == nil {
			t.Errorf("ChildDir(runs, %q) = %q, want an error", name, d)
		}
	}
	if d, err := ChildDir("runs", "a..b"); err != nil || d != filepath.Join("runs", "a..b") {
		t.Errorf("ChildDir(runs, a..b) = %q, %v", d, err)
	}
}
