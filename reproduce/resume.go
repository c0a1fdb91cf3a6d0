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
	want, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	have, err := os.ReadFile(filepath.Join(dir, rundir.ConfigFile))
	if err != nil || !bytes.Equal(have, want) {
		return experiments.Run(ctx, cfg, dir, opts)
	}
	sum, err := rundir.ReadSummary(dir)
	if err != nil {
		return experiments.Run(ctx, cfg, dir, opts)
	}
	switch sum.Status {
	case rundir.StatusCompleted, rundir.StatusDiverged:
		return sum, nil
	case rundir.StatusRunning, rundir.StatusStopped:
		return experiments.Resume(ctx, dir, opts)
	}
	return experiments.Run(ctx, cfg, dir, opts)
}
