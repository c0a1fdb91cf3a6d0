package reproduce

import (
	"bytes"
	"context"
	"os"
	"path/filepath"

	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/rundir"
)

// train carries out cfg in dir unless an earlier invocation already did: a run that finished
// (completed or diverged) with the same resolved config is kept, one that was interrupted
// (stopped, or killed while running) continues from its last checkpoint, and anything else
// (no run, another config, a failed run) starts from step 0. Long reproductions can so be
// spread over several sittings by repeating the same command.
func train(ctx context.Context, cfg config.Config, dir string, opts experiments.Options) (*experiments.Summary, error) {
	if sum := earlier(cfg, dir); sum != nil {
		switch sum.Status {
		case rundir.StatusCompleted, rundir.StatusDiverged:
			return sum, nil
		case rundir.StatusRunning, rundir.StatusStopped:
			return experiments.Resume(ctx, dir, opts)
		}
	}
	return experiments.Run(ctx, cfg, dir, opts)
}

// finished returns the summary of the run of cfg in dir if it completed or diverged, else nil.
func finished(cfg config.Config, dir string) *experiments.Summary {
	if sum := earlier(cfg, dir); sum != nil && (sum.Status == rundir.StatusCompleted || sum.Status == rundir.StatusDiverged) {
		return sum
	}
	return nil
}

// earlier returns the summary of a run of exactly cfg in dir, nil if there is none.
func earlier(cfg config.Config, dir string) *experiments.Summary {
	want, err := cfg.Marshal()
	if err != nil {
		return nil
	}
	have, err := os.ReadFile(filepath.Join(dir, rundir.ConfigFile))
	if err != nil || !bytes.Equal(have, want) {
		return nil
	}
	sum, err := rundir.ReadSummary(dir)
	if err != nil {
		return nil
	}
	return sum
}
