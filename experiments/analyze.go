package experiments

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/lwca/lwca/checkpoint"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/optim"
	"github.com/lwca/lwca/results"
	"gorgonia.org/tensor"
)

// AnalyzeOptions select what lwca analyze looks at.
type AnalyzeOptions struct {
	Step      int    // saved step to analyse; < 0: the latest saved state
	BatchSize int    // samples in the analysis batch; 0: the run's analysis.batch_size
	Out       string // output directory; "": RUN_DIR/analysis/step_<S>
}

// SavedSteps lists the steps whose model state a run saved under weights/.
func SavedSteps(runDir string) ([]int, error) {
	ents, err := os.ReadDir(filepath.Join(runDir, WeightsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var steps []int
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), "step_")
		if n, err := strconv.Atoi(s); ok && err == nil && e.IsDir() {
			if _, err := os.Stat(filepath.Join(runDir, WeightsDir, e.Name(), checkpoint.ModelFile)); err == nil {
				steps = append(steps, n)
			}
		}
	}
	sort.Ints(steps)
	return steps, nil
}

// Analyze runs the conditioning analysis on a saved model state of a run, on a fixed, seeded
// batch of training samples, and writes conditioning.jsonl and spectra/ as a run does. It
// returns the output directory.
func Analyze(ctx context.Context, runDir string, o AnalyzeOptions) (string, error) {
	cfg, err := config.Load(filepath.Join(runDir, ConfigFile), nil)
	if err != nil {
		return "", err
	}
	steps, err := SavedSteps(runDir)
	if err != nil {
		return "", err
	}
	if len(steps) == 0 {
		return "", fmt.Errorf("%s has no saved model states (set analysis.save_weights_every in the run's config)", runDir)
	}
	step := steps[len(steps)-1]
	if o.Step >= 0 {
		i := sort.SearchInts(steps, o.Step)
		if i == len(steps) || steps[i] != o.Step {
			return "", fmt.Errorf("%s has no saved state at step %d (saved: %v)", runDir, o.Step, steps)
		}
		step = o.Step
	}
	ac := &cfg.Analysis
	ac.Every, ac.Concurrent, ac.Spectra = 1, false, true
	if ac.Source != config.SourceFixed {
		ac.Source = config.SourceFixed
		ac.BatchSize = cfg.Data.BatchSize
	}
	if o.BatchSize > 0 {
		ac.BatchSize = o.BatchSize
	}
	out := o.Out
	if out == "" {
		out = filepath.Join(runDir, AnalysisDir, fmt.Sprintf("step_%d", step))
	}
	// The analysis is written beside out and renamed to it as a whole, so that an interrupted
	// analysis leaves the previous one or none, never a partial one that looks complete.
	if _, err := os.Stat(out); err == nil { // before the lock file goes in; again under the lock
		if err := checkAnalysisDir(out); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	lock, err := LockDir(out)
	if err != nil {
		return "", err
	}
	defer lock.Release()
	if err := checkAnalysisDir(out); err != nil {
		return "", err
	}
	parent, base := filepath.Dir(out), filepath.Base(out)
	if err := removeBeside(parent, base); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // gone after the rename; the partial output after a failure
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	trainSet, _, err := LoadData(cfg.Data, cfg.Seed)
	if err != nil {
		return "", err
	}
	net, store, err := BuildModel(cfg, trainSet.Shape, trainSet.Classes)
	if err != nil {
		return "", err
	}
	condLog, err := results.OpenLog(filepath.Join(tmp, ConditioningFile))
	if err != nil {
		return "", err
	}
	a, err := newAnalyzer(cfg, tmp, net, store, trainSet, nil, condLog)
	if err == nil {
		_, err = checkpoint.LoadModel(filepath.Join(runDir, WeightsDir, fmt.Sprintf("step_%d", step)), store)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = analyzeOnce(cfg, a, store, trainSet.N, step)
	}
	if a != nil {
		err = errors.Join(err, a.close())
	}
	err = errors.Join(err, condLog.Sync(), condLog.Close())
	if err != nil {
		return "", err
	}
	resolved, err := cfg.Marshal()
	if err != nil {
		return "", err
	}
	if err := results.WriteFile(filepath.Join(tmp, ConfigFile), resolved); err != nil {
		return "", err
	}
	results.SyncDir(filepath.Join(tmp, SpectraDir))
	results.SyncDir(tmp)
	// Swap: out → old, tmp → out. A crash between the renames leaves no out (and temporaries
	// that the next analysis into out removes).
	old := filepath.Join(parent, "."+base+".old"+strings.TrimPrefix(filepath.Base(tmp), "."+base))
	if err := os.Rename(out, old); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	results.SyncDir(parent)
	return out, os.RemoveAll(old)
}

// checkAnalysisDir refuses an output directory that holds anything but an earlier analysis
// (a run directory, say, or the user's files).
func checkAnalysisDir(out string) error {
	ents, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	for _, e := range ents {
		switch e.Name() {
		case ConfigFile, ConditioningFile, SpectraDir, LockFile:
		default:
			if !tempName.MatchString(e.Name()) {
				return fmt.Errorf("%s holds %s, which an analysis does not write; lwca analyze --out replaces only an earlier analysis: choose a new or empty directory", out, e.Name())
			}
		}
	}
	return nil
}

// removeBeside removes the temporaries that an interrupted analysis into parent/base left
// beside it; the caller holds the lock of parent/base.
func removeBeside(parent, base string) error {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if rest, ok := strings.CutPrefix(e.Name(), "."+base+"."); ok && tempName.MatchString(e.Name()) &&
			(strings.HasPrefix(rest, "tmp") || strings.HasPrefix(rest, "old.tmp")) {
			if err := os.RemoveAll(filepath.Join(parent, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func analyzeOnce(cfg config.Config, a *analyzer, store *graph.Store, trainN, step int) error {
	perEpoch := trainN / cfg.Data.BatchSize
	epoch := step / max(perEpoch, 1)
	o := cfg.Optim
	lr := scheduleOf(o).At(step, epoch)
	// The optimiser only supplies the stability ratio's momentum; it takes no step.
	name, options := optimizerSpec(o)
	opt, err := optim.New(name, options, o.WeightDecay)
	if err != nil {
		return err
	}
	var grads []*tensor.Dense
	weightOf := weightBlocks(store.Params(), a.probe.Hooks().Points())
	var values []*tensor.Dense
	for _, p := range store.Params() {
		values = append(values, p.Value)
	}
	weight := func(layer string) *tensor.Dense {
		if b, ok := weightOf[layer]; ok {
			return b.of(values)
		}
		return nil
	}
	grad := func(layer string) *tensor.Dense {
		if b, ok := weightOf[layer]; ok && grads != nil {
			return b.of(grads)
		}
		return nil
	}
	// The gradient norms are those of the analysis batch's loss, available after each pass;
	// a sample passed in equal chunks has the mean of the chunks' gradients.
	a.gradsOf = func(pass, passes int) {
		g, err := a.probe.Grads()
		if err != nil {
			return
		}
		if pass == 0 {
			grads = make([]*tensor.Dense, len(g))
			for i, t := range g {
				grads[i] = t.Clone().(*tensor.Dense)
			}
			return
		}
		for i := range grads {
			if _, err := grads[i].Add(g[i], tensor.UseUnsafe()); err != nil {
				grads = nil // the norms are then reported as NaN
				return
			}
		}
		if pass == passes-1 {
			for _, t := range grads {
				scale(t, 1/float64(passes))
			}
		}
	}
	return a.run(step, epoch, lr, heavyBall(opt), nil, nil, nil, weight, grad)
}

// scale multiplies t by a.
func scale(t *tensor.Dense, a float64) {
	switch d := t.Data().(type) {
	case []float32:
		for i := range d {
			d[i] *= float32(a)
		}
	case []float64:
		for i := range d {
			d[i] *= a
		}
	}
}
