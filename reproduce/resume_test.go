package reproduce

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/rundir"
)

// smallMLP is a few steps of the shipped MNIST config, small enough for a unit test.
func smallMLP(t *testing.T, extra ...string) config.Config {
	t.Helper()
	ov := append([]string{"model.width=16", "train.steps=24", "train.checkpoint_every=8", "analysis.every=8",
		"analysis.p=[0.5]", "data.test_limit=200"}, extra...)
	cfg, err := config.Load(filepath.Join("..", "configs", "reproduce", "mnist_mlp.yaml"), ov)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// steps runs train and returns the steps it carried out.
func steps(t *testing.T, ctx context.Context, cfg config.Config, dir string, stopAt int, cancel func()) ([]int, *experiments.Summary) {
	t.Helper()
	var done []int
	sum, err := train(ctx, cfg, dir, experiments.Options{AfterStep: func(s int) {
		done = append(done, s)
		if s == stopAt {
			cancel()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	return done, sum
}

func TestTrainKeepsFinishedRunsAndResumesInterruptedOnes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four small MNIST runs; skipped under -short")
	}
	cfg := smallMLP(t)
	ref, cut := filepath.Join(t.TempDir(), "ref"), filepath.Join(t.TempDir(), "cut")
	nop := func() {}

	done, sum := steps(t, context.Background(), cfg, ref, -1, nop)
	if len(done) != 24 || sum.Status != rundir.StatusCompleted {
		t.Fatalf("reference run: %d steps, status %s; want 24, completed", len(done), sum.Status)
	}
	// The same command again keeps the finished run: no step is trained.
	if done, sum = steps(t, context.Background(), cfg, ref, -1, nop); len(done) != 0 || sum.Status != rundir.StatusCompleted {
		t.Errorf("finished run: trained %d steps again (status %s), want none", len(done), sum.Status)
	}

	// Interrupted after step 10: the checkpoint of step 8 is kept...
	ctx, cancel := context.WithCancel(context.Background())
	if _, sum = steps(t, ctx, cfg, cut, 10, cancel); sum.Status != rundir.StatusStopped {
		t.Fatalf("interrupted run: status %s, want stopped", sum.Status)
	}
	if finished(cfg, cut) != nil {
		t.Error("an interrupted run counts as finished")
	}
	// ...and the next call continues from there, to the same files as the uninterrupted run.
	done, sum = steps(t, context.Background(), cfg, cut, -1, nop)
	if len(done) == 0 || done[0] == 0 || sum.Status != rundir.StatusCompleted {
		t.Fatalf("resumed run: steps %v, status %s; want a start after step 0 and completed", done, sum.Status)
	}
	for _, f := range []string{rundir.MetricsFile, rundir.ConditioningFile} {
		a, errA := os.ReadFile(filepath.Join(ref, f))
		b, errB := os.ReadFile(filepath.Join(cut, f))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s of the resumed run differs from the uninterrupted run's (%v, %v)", f, errA, errB)
		}
	}

	if finished(cfg, cut) == nil || finished(smallMLP(t, "optim.lr=0.05"), cut) != nil {
		t.Error("finished: want the completed run of the same config, and nothing for another config")
	}
	// Another config in the same directory trains from step 0.
	done, _ = steps(t, context.Background(), smallMLP(t, "optim.lr=0.05"), ref, -1, nop)
	if len(done) != 24 || done[0] != 0 {
		t.Errorf("changed config: steps %v, want all 24 from step 0", done)
	}
}
