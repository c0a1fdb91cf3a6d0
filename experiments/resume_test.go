package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/npy"
	"github.com/lwca/lwca/optim"
)

// compareRunDirs checks that two run directories hold byte-identical result files.
func compareRunDirs(t *testing.T, a, b string) {
	t.Helper()
	files := []string{ConfigFile, MetricsFile, ConditioningFile}
	ents, _ := os.ReadDir(filepath.Join(a, SpectraDir))
	for _, e := range ents {
		files = append(files, filepath.Join(SpectraDir, e.Name()))
	}
	for _, f := range files {
		da, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		db, err := os.ReadFile(filepath.Join(b, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(da, db) {
			t.Errorf("%s differs after resume (%d vs %d bytes)", f, len(da), len(db))
		}
	}
}

// runWithStops runs cfg into dir, stopping after each step of stops and resuming, and checks
// that it completes 20 steps with consecutive train records. optimizer, if not "", is the
// registered optimiser the run uses instead of the config's, with its default options.
func runWithStops(t *testing.T, cfg config.Config, dir, optimizer string, stops []int) {
	t.Helper()
	if optimizer != "" {
		var err error
		if cfg, err = cfg.Override(fmt.Sprintf("optim={type: %s, lr: %v, weight_decay: %v}", optimizer, cfg.Optim.LR, cfg.Optim.WeightDecay)); err != nil {
			t.Fatal(err)
		}
	}
	var sum *Summary
	for i := 0; i <= len(stops); i++ {
		ctx, cancel := context.WithCancel(context.Background())
		var opts Options
		if i < len(stops) {
			stop := stops[i]
			opts.AfterStep = func(step int) {
				if step == stop {
					cancel()
				}
			}
		}
		var err error
		if i == 0 {
			sum, err = Run(ctx, cfg, dir, opts)
		} else {
			sum, err = Resume(ctx, dir, opts)
		}
		cancel()
		if err != nil {
			t.Fatalf("stops %v: %v", stops, err)
		}
	}
	if sum.Status != StatusCompleted || sum.Steps != 20 {
		t.Fatalf("stops %v: status %s after %d steps, want completed after 20", stops, sum.Status, sum.Steps)
	}
	train := 0
	for _, r := range readRecords(t, filepath.Join(dir, MetricsFile)) {
		if r["type"] == "train" && r["step"] == float64(train) {
			train++
		}
	}
	if train != 20 {
		t.Fatalf("stops %v: %d consecutive train records, want 20", stops, train)
	}
}

// A run stopped after any step and resumed gives the files of an uninterrupted run, whatever
// the analysis estimator; so does one resumed twice.
func TestResumeIsExact(t *testing.T) {
	for _, set := range [][]string{
		{"train.checkpoint_every=3", "analysis.concurrent=true"},
		{"train.checkpoint_every=0", "analysis.source=average", "analysis.batches=2", "analysis.fisher=true", "optim.nesterov=true"},
		{"train.checkpoint_every=4", "train.dtype=float64", "analysis.save_weights_every=5"},
		// Windows of 3 steps from steps 0, 4, 8, …: checkpoints due inside one and stops
		// requested inside one wait for it to close.
		{"train.checkpoint_every=3", "analysis.window=3", "analysis.source=window"},
	} {
		cfg := smokeConfig(t, set...)
		full := t.TempDir()
		runInto(t, cfg, full)
		for _, stops := range [][]int{{0}, {6, 13}, {9}, {19}} {
			dir := t.TempDir()
			runWithStops(t, cfg, dir, "", stops)
			compareRunDirs(t, full, dir)
		}
	}
}

// Every registered optimiser, built through the registry with its default options, keeps its
// whole state in checkpoints: interrupted and resumed, a run ends byte-identical to an
// uninterrupted one, in both dtypes.
func TestResumeIsExactForEveryOptimizer(t *testing.T) {
	names := optim.Optimizers.Names()
	for _, want := range []string{"sgd", "adam", "adamw"} {
		if !slices.Contains(names, want) {
			t.Errorf("optimiser %s is not registered", want)
		}
	}
	firstLoss := map[string]any{}
	for _, name := range names {
		for _, dtype := range []string{"float32", "float64"} {
			cfg := smokeConfig(t, "train.checkpoint_every=3", "optim.weight_decay=0.01", "optim.lr=0.01", "train.dtype="+dtype)
			full := t.TempDir()
			runWithStops(t, cfg, full, name, nil)
			for _, stops := range [][]int{{0}, {7, 13}} {
				dir := t.TempDir()
				runWithStops(t, cfg, dir, name, stops)
				compareRunDirs(t, full, dir)
			}
			recs := readRecords(t, filepath.Join(full, MetricsFile))
			firstLoss[name+" "+dtype] = recs[1]["loss"] // after the first update
			for _, r := range readRecords(t, filepath.Join(full, ConditioningFile)) {
				_, has := r["stability_ratio"]
				if r["factor"] == FactorFisher && has != (name == "sgd") {
					t.Fatalf("%s: fisher record with stability_ratio %v", name, r["stability_ratio"])
				}
			}
		}
	}
	// The hook did select the optimiser: each one's second loss is its own.
	if firstLoss["adam float32"] == firstLoss["sgd float32"] || firstLoss["adam float32"] == firstLoss["adamw float32"] {
		t.Errorf("second-step losses %v: the optimisers did not all take effect", firstLoss)
	}
}

// A checkpoint records its optimiser; resuming it with another is refused.
func TestResumeRefusesAnotherOptimizer(t *testing.T) {
	dir := t.TempDir()
	cfg := smokeConfig(t, "train.checkpoint_every=5", "optim={type: adam, lr: 0.01}")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Run(ctx, cfg, dir, Options{AfterStep: func(step int) {
		if step == 6 {
			cancel()
		}
	}}); err != nil {
		t.Fatal(err)
	}
	st, err := readCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if o := st.Optimizer; st.Format != 2 || o.Type != "adam" || o.Scalars["step"] != 7 || len(o.Buffers) == 0 {
		t.Fatalf("checkpoint after 7 adam steps: format %d, optimizer %+v", st.Format, o)
	}
	for p, bufs := range st.Optimizer.Buffers {
		if !slices.Equal(bufs, []string{"exp_avg", "exp_avg_sq"}) {
			t.Errorf("%s: buffers %v", p, bufs)
		}
		if _, err := os.Stat(filepath.Join(dir, CheckpointDir, "optimizer", p+".exp_avg_sq.npy")); err != nil {
			t.Error(err)
		}
	}
	// The run's config edited to another optimiser: the checkpoint's state does not fit it.
	sgd, err := cfg.Override("optim={type: sgd, lr: 0.01}")
	if err != nil {
		t.Fatal(err)
	}
	b, err := sgd.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Even with the config change allowed, the checkpoint's state does not fit the optimiser.
	_, err = Resume(context.Background(), dir, Options{AllowConfigChange: true})
	if err == nil || !strings.Contains(err.Error(), `optimiser "adam", the run's is "sgd"`) {
		t.Errorf("resuming adam state as sgd: %v", err)
	}
}

// A checkpoint of format 1, which listed SGD's momentum buffers under velocity as flat
// arrays, still resumes exactly.
func TestResumeReadsFormat1(t *testing.T) {
	cfg := smokeConfig(t, "train.checkpoint_every=5")
	full, dir := t.TempDir(), t.TempDir()
	runInto(t, cfg, full)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Run(ctx, cfg, dir, Options{AfterStep: func(step int) {
		if step == 8 {
			cancel()
		}
	}}); err != nil {
		t.Fatal(err)
	}
	// Rewrite the checkpoint as format 1 wrote it.
	path := filepath.Join(dir, CheckpointDir, "state.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	var velocity []string
	for p := range st["optimizer"].(map[string]any)["buffers"].(map[string]any) {
		velocity = append(velocity, p)
		file := filepath.Join(dir, CheckpointDir, "optimizer", p+".velocity.npy")
		a, err := npy.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := npy.WriteFile(file, []int{len(a.F32)}, a.F32); err != nil {
			t.Fatal(err)
		}
	}
	if len(velocity) == 0 {
		t.Fatal("no velocity buffers in the checkpoint")
	}
	delete(st, "optimizer")
	st["format"], st["velocity"] = 1, velocity
	if b, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(context.Background(), dir, Options{}); err != nil {
		t.Fatal(err)
	}
	compareRunDirs(t, full, dir)
}

// A damaged checkpoint is refused with an error naming it.
func TestResumeRejectsDamagedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	runInto(t, smokeConfig(t), dir)
	state := filepath.Join(dir, CheckpointDir, "state.json")
	os.WriteFile(state, []byte(`{"format": 1, "step": `), 0o644)
	if _, err := Resume(context.Background(), dir, Options{}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("state.json")) {
		t.Errorf("damaged state.json: %v", err)
	}
	runInto(t, smokeConfig(t), dir)
	os.WriteFile(filepath.Join(dir, CheckpointDir, "model", "fc1.weight.npy"), []byte("\x93NUMPY garbage"), 0o644)
	if _, err := Resume(context.Background(), dir, Options{}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("fc1.weight")) {
		t.Errorf("damaged weight file: %v", err)
	}
	runInto(t, smokeConfig(t), dir)
	npy.WriteFile(filepath.Join(dir, CheckpointDir, "optimizer", "fc2.weight.velocity.npy"), []int{3}, []float32{1, 2, 3})
	if _, err := Resume(context.Background(), dir, Options{}); err == nil || !strings.Contains(err.Error(), "velocity of fc2.weight") {
		t.Errorf("optimiser buffer of the wrong size: %v", err)
	}
	if _, err := Resume(context.Background(), t.TempDir(), Options{}); err == nil {
		t.Error("resuming an empty directory succeeded")
	}
}

// FuzzReadCheckpoint: a damaged state.json is refused with an error, never a panic, and what
// it accepts rolls back and restores without panicking.
func FuzzReadCheckpoint(f *testing.F) {
	f.Add([]byte(`{"format":1,"step":3,"logs":{"metrics.jsonl":10},"spectra_rows":1}`))
	f.Add([]byte(`{"format":1,"step":-1}`))
	f.Add([]byte(`{"format":1,"logs":{"../x":1}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"format":2,"step":3,"optimizer":{"type":"adam","buffers":{"fc1.weight":["exp_avg"]},"scalars":{"step":3}}}`))
	f.Add([]byte(`{"format":2,"step":3}`))
	f.Fuzz(func(t *testing.T, state []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, CheckpointDir), 0o755)
		os.WriteFile(filepath.Join(dir, CheckpointDir, "state.json"), state, 0o644)
		os.WriteFile(filepath.Join(dir, MetricsFile), []byte("{}\n{}\n"), 0o644)
		st, err := readCheckpoint(dir)
		if err != nil {
			return
		}
		st.rollBack(dir)
	})
}

// A stopped run's checkpoint carries its wall time up to the stop, not to the checkpoint
// before it, so that a resumed run's wall_seconds counts every process's time.
func TestCheckpointCarriesWallTime(t *testing.T) {
	cfg := smokeConfig(t, "train.checkpoint_every=5")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := -1.0 // the wall time of the checkpoint before the stop
	opts := Options{AfterStep: func(step int) {
		if step == 11 {
			if st, err := readCheckpoint(dir); err == nil {
				before = st.Summary.WallSeconds
			}
		}
		if step >= 11 {
			time.Sleep(40 * time.Millisecond) // steps 11–13 add at least 0.12 s after that checkpoint
		}
		if step == 13 {
			cancel()
		}
	}}
	sum, err := Run(ctx, cfg, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != StatusStopped {
		t.Fatalf("status %s, want stopped", sum.Status)
	}
	st, err := readCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Bounds that hold however loaded the machine is: the sleeps after the earlier checkpoint
	// are in, and nothing after the stop's summary.
	if before < 0 || st.Summary.WallSeconds < before+0.12 || st.Summary.WallSeconds > sum.WallSeconds {
		t.Errorf("checkpoint wall time %.3f s; want at least the earlier checkpoint's %.3f s + 0.12 s and at most the stopped run's %.3f s",
			st.Summary.WallSeconds, before, sum.WallSeconds)
	}
	resumed, err := Resume(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The resumed run counts the time up to the checkpoint and its own (the stopped process's
	// last summary write, after the checkpoint, is not part of the run).
	if resumed.WallSeconds < st.Summary.WallSeconds {
		t.Errorf("resumed run's wall time %.3f s, less than the checkpoint's %.3f s", resumed.WallSeconds, st.Summary.WallSeconds)
	}
}

// A kill after a checkpoint swap, while the previous checkpoint was being removed, leaves part
// of it as checkpoint.old beside the new one; after the last step's checkpoint no later one
// removes it. Resume finishes the removal, and the run directory is an uninterrupted run's.
func TestResumeRemovesLeftoverOldCheckpoint(t *testing.T) {
	cfg := smokeConfig(t, "train.checkpoint_every=3")
	full, dir := t.TempDir(), t.TempDir()
	runInto(t, cfg, full)
	runInto(t, cfg, dir)
	debris := filepath.Join(dir, CheckpointDir+".old", "model")
	if err := os.MkdirAll(debris, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(debris, "fc1.weight.npy"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(context.Background(), dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, CheckpointDir+".old")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkpoint.old is still there after resume (%v)", err)
	}
	compareRunDirs(t, full, dir)
}

// analysis.curvature starts each step's Lanczos from the last step's top Hessian eigenvector:
// checkpoints keep it, so a resumed run's curvature records are those of an uninterrupted run.
func TestResumeIsExactWithCurvature(t *testing.T) {
	cfg := smokeConfig(t, "train.checkpoint_every=3", "analysis.every=2", "analysis.curvature.preset=sharpness",
		"analysis.curvature.batch_size=40")
	full := t.TempDir()
	runInto(t, cfg, full)
	for _, stops := range [][]int{{6, 13}, {9}} {
		dir := t.TempDir()
		runWithStops(t, cfg, dir, "", stops)
		compareRunDirs(t, full, dir)
	}
	st, err := readCheckpoint(full)
	if err != nil {
		t.Fatal(err)
	}
	if st.CurvatureStart == "" {
		t.Fatal("the checkpoint holds no curvature start vector")
	}
}
