package experiments

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
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

// A run stopped after any step and resumed gives the files of an uninterrupted run, whatever
// the analysis estimator; so does one resumed twice.
func TestResumeIsExact(t *testing.T) {
	for _, set := range [][]string{
		{"train.checkpoint_every=3", "analysis.concurrent=true"},
		{"train.checkpoint_every=0", "analysis.source=average", "analysis.batches=2", "analysis.fisher=true", "optim.nesterov=true"},
		{"train.checkpoint_every=4", "train.dtype=float64", "analysis.save_weights_every=5"},
	} {
		cfg := smokeConfig(t, set...)
		full := t.TempDir()
		runInto(t, cfg, full)
		for _, stops := range [][]int{{0}, {6, 13}, {9}, {19}} {
			dir := t.TempDir()
			next := 0
			var sum *Summary
			for i := 0; i <= len(stops); i++ {
				ctx, cancel := context.WithCancel(context.Background())
				opts := Options{}
				if i < len(stops) {
					stop := stops[i]
					opts.AfterStep = func(step int) {
						if step == stop {
							cancel()
						}
					}
				}
				var err error
				if next == 0 && i == 0 {
					sum, err = Run(ctx, cfg, dir, opts)
				} else {
					sum, err = Resume(ctx, dir, opts)
				}
				cancel()
				if err != nil {
					t.Fatalf("%v stops %v: %v", set, stops, err)
				}
				next++
			}
			if sum.Status != StatusCompleted || sum.Steps != 20 {
				t.Fatalf("%v stops %v: status %s after %d steps, want completed after 20", set, stops, sum.Status, sum.Steps)
			}
			train := 0
			for _, r := range readRecords(t, filepath.Join(dir, MetricsFile)) {
				if r["type"] == "train" && r["step"] == float64(train) {
					train++
				}
			}
			if train != 20 {
				t.Fatalf("%v stops %v: %d consecutive train records, want 20", set, stops, train)
			}
			compareRunDirs(t, full, dir)
		}
	}
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
	opts := Options{AfterStep: func(step int) {
		time.Sleep(40 * time.Millisecond) // steps 11–13 add at least 0.12 s after the step-10 checkpoint
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
	if st.Summary.WallSeconds < sum.WallSeconds-0.06 {
		t.Errorf("checkpoint wall time %.3f s, the stopped run's %.3f s", st.Summary.WallSeconds, sum.WallSeconds)
	}
	resumed, err := Resume(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if resumed.WallSeconds < sum.WallSeconds {
		t.Errorf("resumed run's wall time %.3f s, less than the %.3f s before the stop", resumed.WallSeconds, sum.WallSeconds)
	}
}
