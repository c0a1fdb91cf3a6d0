package experiments

import (
	"context"
	"slices"
	"testing"

	"github.com/lwca/lwca/backend"
	"github.com/lwca/lwca/experiments/config"
)

// useOpenBLAS installs OpenBLAS with the given threads for the test and gonum again after it
// (the package's other tests run on gonum); it skips where OpenBLAS is absent.
func useOpenBLAS(t *testing.T, threads int) {
	t.Helper()
	info, err := backend.Init(backend.OpenBLAS, threads)
	if err != nil {
		t.Skipf("needs OpenBLAS (Debian: apt-get install libopenblas0): %v", err)
	}
	t.Cleanup(func() { backend.Init(backend.Gonum, 0) })
	if info.Threads != threads {
		t.Skipf("OpenBLAS gives %d threads, the test needs %d", info.Threads, threads)
	}
}

// narrowConfig is an MLP large enough that OpenBLAS's products differ in their last bits
// between one and two threads, with 3-step windows from steps 0, 4, 8, …
func narrowConfig(t *testing.T, overrides ...string) config.Config {
	return smokeConfig(t, append([]string{"data.synthetic.dim=300", "data.synthetic.train=2560", "data.batch_size=128",
		"model.width=256", "train.epochs=1", "train.steps=20", "analysis.window=3", "analysis.source=window",
		"analysis.concurrent=true"}, overrides...)...)
}

// Beside training, a run with two BLAS threads trains on one from the step that submits an
// analysis (the window's last) until the worker's span ends, here at the next analysis step:
// steps 2, 3, 6, 7, … It has its two threads back after the run.
func TestNarrowingFollowsTheSchedule(t *testing.T) {
	useOpenBLAS(t, 2)
	var narrowed []int
	opts := Options{AfterStep: func(step int) {
		if backend.Threads() == 1 {
			narrowed = append(narrowed, step)
		}
	}}
	if _, err := Run(context.Background(), narrowConfig(t), t.TempDir(), opts); err != nil {
		t.Fatal(err)
	}
	want := []int{2, 3, 6, 7, 10, 11, 14, 15, 18, 19}
	if !slices.Equal(narrowed, want) {
		t.Errorf("one BLAS thread after steps %v, want %v", narrowed, want)
	}
	if backend.Threads() != 2 {
		t.Errorf("after the run: %d BLAS threads, want 2 back", backend.Threads())
	}

	// In turn, or with other runs in the process, the threads never change.
	for _, c := range []struct {
		cfg  config.Config
		opts Options
	}{
		{narrowConfig(t, "analysis.concurrent=false"), Options{}},
		{narrowConfig(t), Options{SharedProcess: true}},
	} {
		narrowed = nil
		c.opts.AfterStep = opts.AfterStep
		if _, err := Run(context.Background(), c.cfg, t.TempDir(), c.opts); err != nil {
			t.Fatal(err)
		}
		if len(narrowed) > 0 {
			t.Errorf("concurrent=%v, shared=%v: one BLAS thread after steps %v, want none", c.cfg.Analysis.Concurrent, c.opts.SharedProcess, narrowed)
		}
	}
}

// A run stopped inside a span of one BLAS thread resumes on one thread until the span's end:
// its files are an uninterrupted run's byte for byte, although one and two threads round the
// network's products differently.
func TestNarrowingResumesExactly(t *testing.T) {
	useOpenBLAS(t, 2)
	cfg := narrowConfig(t, "train.checkpoint_every=0")
	full := t.TempDir()
	runInto(t, cfg, full)
	for _, stops := range [][]int{{2}, {6, 10}} {
		dir := t.TempDir()
		runWithStops(t, cfg, dir, "", stops)
		compareRunDirs(t, full, dir)
	}
}
