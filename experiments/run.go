package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/backend"
	"github.com/lwca/lwca/checkpoint"
	"github.com/lwca/lwca/data"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/optim"
	"github.com/lwca/lwca/results"
	"github.com/lwca/lwca/rundir"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// Options are the run-time settings that are not part of an experiment's config.
type Options struct {
	// Progress receives the progress bar or log lines; nil is silent.
	Progress io.Writer
	// Display, if set, is the terminal display the run's bar joins (a sweep's workers share
	// one); unset, a terminal Progress gets a display of the run's own.
	Display *Display
	// Verbose adds a line per analysed layer with its time.
	Verbose bool
	// Backend describes the numeric backend, for summary.json.
	Backend map[string]any
	// AfterStep, if set, is called after every completed step (tests, external monitors).
	AfterStep func(step int)
	// AllowConfigChange lets Resume continue with a config.yaml that differs from the one the
	// checkpoint was written with; the change is recorded in summary.json.
	AllowConfigChange bool
	// SharedProcess says that other runs train in this process at the same time. A run whose
	// analysis solves beside training otherwise narrows the process's BLAS threads to one
	// while its worker solves (see analysis.concurrent); with other runs beside it, it keeps
	// the threads as they are.
	SharedProcess bool
}

// Run trains the experiment cfg into the directory out and returns its summary. A diverging
// run returns its summary (status diverged) and no error; errors are for runs that could not
// be carried out. If ctx is cancelled the run stops after the current step, writes a
// checkpoint and returns with status stopped; Resume continues it. out is locked for the
// run's duration; a previous run in it is replaced (only lwca's own files are removed), and a
// directory holding other files but no run is refused.
func Run(ctx context.Context, cfg config.Config, out string, opts Options) (*Summary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Missing data fails here, with how to fetch it, not in a run directory left behind.
	if _, err := DataSource(cfg.Data); err != nil {
		return nil, err
	}
	if err := checkRunDir(out); err != nil { // before the lock file goes in; again under the lock
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	lock, err := LockDir(out)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	return fresh(ctx, cfg, out, opts)
}

// fresh starts cfg from step 0 in the locked directory out.
func fresh(ctx context.Context, cfg config.Config, out string, opts Options) (*Summary, error) {
	resolved, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	if err := clearRun(out); err != nil {
		return nil, err
	}
	if err := results.WriteFile(filepath.Join(out, ConfigFile), resolved); err != nil {
		return nil, err
	}
	sum := &Summary{Name: cfg.Name, Status: StatusRunning, Backend: opts.Backend}
	return execute(ctx, cfg, out, opts, sum, nil)
}

// Resume continues the run in dir from its last checkpoint. The finished run's result files
// are byte-identical to those of an uninterrupted run (summary.json but for wall_seconds).
// A run that ended before its first checkpoint starts again from step 0. A config.yaml that
// differs from the one the checkpoint was written with is refused unless
// opts.AllowConfigChange.
func Resume(ctx context.Context, dir string, opts Options) (*Summary, error) {
	// Not a run directory: say so rather than leave a lock file in it.
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err != nil {
		return nil, fmt.Errorf("%s holds no run to resume: %w", dir, err)
	}
	lock, err := LockDir(dir)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	cfg, err := config.Load(filepath.Join(dir, ConfigFile), nil)
	if err != nil {
		return nil, err
	}
	if err := removeOrphans(dir); err != nil {
		return nil, err
	}
	st, err := readCheckpoint(dir)
	if errors.Is(err, errNoCheckpoint) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "%s: %s has no checkpoint yet (the run ended before its first); starting again from step 0\n", cfg.Name, dir)
		}
		return fresh(ctx, cfg, dir, opts)
	}
	if err != nil {
		return nil, err
	}
	if _, err := DataSource(cfg.Data); err != nil {
		return nil, err
	}
	sum := st.Summary
	if err := st.checkConfig(dir, cfg, opts.AllowConfigChange, &sum); err != nil {
		return nil, err
	}
	sum.Status, sum.Error, sum.Backend = StatusRunning, "", opts.Backend
	return execute(ctx, cfg, dir, opts, &sum, st)
}

func execute(ctx context.Context, cfg config.Config, out string, opts Options, sum *Summary, st *runState) (*Summary, error) {
	start := time.Now()
	prior := sum.WallSeconds
	// stampWall brings the run's wall time (this process's plus the resumed runs') up to now.
	stampWall := func() { sum.WallSeconds = math.Round((prior+time.Since(start).Seconds())*1000) / 1000 }
	writeSummary := func() error {
		stampWall()
		path := filepath.Join(out, SummaryFile)
		err := results.WriteJSON(path, sum)
		if errors.Is(err, syscall.ENOSPC) && sum.Status != StatusRunning {
			// A final status matters more than atomicity: on a full disk, overwrite in place.
			if b, merr := json.MarshalIndent(sum, "", "  "); merr == nil {
				if oerr := results.Overwrite(path, append(b, '\n')); oerr == nil {
					return nil
				}
			}
		}
		return err
	}
	if err := writeSummary(); err != nil {
		return nil, err
	}
	r, err := newRunner(ctx, cfg, out, opts, st)
	if errors.Is(err, errSetupStopped) {
		// Nothing trained and no checkpoint: --resume starts again from step 0.
		sum.Status = StatusStopped
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "%s: stopped during setup, before step 0\n", cfg.Name)
		}
		return sum, writeSummary()
	}
	if err == nil {
		sum.Layers = r.layers
		sum.Data = strings.TrimSuffix(r.train.Name, "/train") // which copy: cifar10 or cifar10-jpeg
		r.sum, r.writeSummary, r.stampWall = sum, writeSummary, stampWall
		err = r.loop(ctx)
		if cerr := r.close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		sum.Status, sum.Error = StatusFailed, err.Error()
		// Temporaries of the failed write go first: on a full disk they hold the room that
		// summary.json needs.
		removeOrphans(out)
		if werr := writeSummary(); werr != nil {
			return sum, errors.Join(err, werr)
		}
		return sum, err
	}
	return sum, writeSummary()
}

// runner holds everything a run needs between steps.
type runner struct {
	cfg        config.Config
	train      *data.Set
	test       *data.Set
	batcher    *data.Batcher
	augment    data.Augment
	trainer    *train.Trainer
	evaluator  *train.Evaluator
	store      *graph.Store
	opt        optim.Optimizer
	optName    string // the optimiser's registered name
	sched      optim.Schedule
	analyzer   *analyzer
	metrics    *results.Log
	condLog    *results.Log
	progress   *progress
	layers     []string
	weightOf   map[string]weightBlock // hook point → its weight among the trainer's params
	totalSteps int
	perEpoch   int
	out        string
	opts       Options
	// checkpointDue: a periodic checkpoint waits for an analysis window to close.
	checkpointDue bool

	// Progress through the run, all of it saved in checkpoints.
	step         int // the next step to run
	epochLoss    float64
	epochCorrect int
	epochSeen    int
	sum          *Summary
	writeSummary func() error
	stampWall    func()
}

// errSetupStopped is returned by newRunner when the run's context ends during setup.
var errSetupStopped = errors.New("stopped during setup")

// newRunner loads the data and builds the programs, which can take minutes for a large
// data set or a deep network; between the stages it checks ctx, so that an interrupt
// stops setup promptly (errSetupStopped).
func newRunner(ctx context.Context, cfg config.Config, out string, opts Options, st *runState) (*runner, error) {
	stopped := func() bool { return ctx.Err() != nil }
	if stopped() {
		return nil, errSetupStopped
	}
	trainSet, testSet, err := LoadData(cfg.Data, cfg.Seed)
	if err != nil {
		return nil, err
	}
	if stopped() {
		return nil, errSetupStopped
	}
	net, store, err := BuildModel(cfg, trainSet.Shape, trainSet.Classes)
	if err != nil {
		return nil, err
	}
	if stopped() {
		return nil, errSetupStopped
	}
	// Building the programs of a deep network is the long part: let ctx interrupt it.
	store.Interrupt(ctx)
	defer store.Interrupt(nil)
	r := &runner{cfg: cfg, train: trainSet, test: testSet, store: store, out: out, opts: opts}
	if r.trainer, err = train.NewTrainer(net, store, cfg.Data.BatchSize, trainSet.D); stopped() {
		return nil, errSetupStopped
	} else if err != nil {
		return nil, err
	}
	if r.evaluator, err = train.NewEvaluator(net, store, min(cfg.Data.EvalBatchSize, max(testSet.N, 1)), trainSet.D); stopped() {
		return nil, errSetupStopped
	} else if err != nil {
		return nil, err
	}
	r.batcher = data.NewBatcher(trainSet, cfg.Data.BatchSize, cfg.Data.Shuffle, cfg.Seed)
	r.perEpoch = r.batcher.BatchesPerEpoch()
	if a := cfg.Data.Augment; a.CropPad > 0 || a.Flip {
		if len(trainSet.Shape) != 3 {
			return nil, fmt.Errorf("data.augment: needs images, the data has shape %v", trainSet.Shape)
		}
		r.augment = data.Augment{Pad: a.CropPad, Flip: a.Flip}
	}
	r.totalSteps = cfg.Train.Epochs * r.perEpoch
	if cfg.Train.Steps > 0 && cfg.Train.Steps < r.totalSteps {
		r.totalSteps = cfg.Train.Steps
	}
	o := cfg.Optim
	var options any
	r.optName, options = optimizerSpec(o)
	if r.opt, err = optim.New(r.optName, options, o.WeightDecay); err != nil {
		return nil, err
	}
	r.sched = scheduleOf(o)
	r.weightOf = weightBlocks(r.trainer.Params(), r.trainer.Hooks().Points())
	for _, p := range r.trainer.Hooks().Points() {
		r.layers = append(r.layers, p.Layer)
	}
	if st != nil { // roll the result files back to the checkpoint before appending
		if err := st.rollBack(out); err != nil {
			return nil, err
		}
	}
	if r.metrics, err = results.OpenLog(filepath.Join(out, MetricsFile)); err != nil {
		return nil, err
	}
	if r.condLog, err = results.OpenLog(filepath.Join(out, ConditioningFile)); err != nil {
		return nil, err
	}
	if r.analyzer, err = newAnalyzer(cfg, out, net, store, trainSet, r.trainer, r.condLog); stopped() {
		return nil, errors.Join(errSetupStopped, r.close())
	} else if err != nil {
		return nil, err
	}
	r.analyzer.lastStep = r.totalSteps - 1
	if cfg.Analysis.Concurrent && !opts.SharedProcess {
		r.analyzer.threads = backend.Threads() // narrowed while the worker solves (analyzer.submit)
	}
	done := 0
	if st != nil {
		done = st.Step
	}
	r.progress = newProgress(opts, cfg.Name, r.totalSteps, done, cfg.Train.LogEvery)
	r.analyzer.onLayer = r.progress.layer
	if st != nil {
		if err := r.restore(st); err != nil {
			r.progress.close()
			return nil, err
		}
	}
	return r, nil
}

func (r *runner) close() error {
	var err error
	if r.analyzer != nil {
		err = r.analyzer.close()
	}
	r.progress.close() // after the analysis, which reports to it
	return errors.Join(err, r.metrics.Close(), r.condLog.Close())
}

func (r *runner) loop(ctx context.Context) error {
	sum := r.sum
	x := make([]float32, r.cfg.Data.BatchSize*r.train.D)
	y := make([]int32, r.cfg.Data.BatchSize)
	weights := make([]*tensor.Dense, len(r.trainer.Params()))
	for i, p := range r.trainer.Params() {
		weights[i] = p.Value
	}
	for r.step < r.totalSteps {
		step := r.step
		r.analyzer.widen(step)
		// A stop waits for an open analysis window to close (a few steps), so that the
		// checkpoint never falls inside one.
		if err := ctx.Err(); err != nil && !r.analyzer.windowOpen() {
			sum.Status = StatusStopped
			if err := r.checkpoint(); err != nil {
				return err
			}
			r.progress.message("%s: stopped before step %d; checkpoint written, continue with lwca run --resume %s", r.cfg.Name, step, r.out)
			return nil
		}
		if every := r.cfg.Analysis.SaveWeightsEvery; every > 0 && step%every == 0 {
			if err := checkpoint.SaveModel(filepath.Join(r.out, WeightsDir, fmt.Sprintf("step_%d", step)), r.store, step); err != nil {
				return err
			}
		}
		epoch, index := r.batcher.Next(x, y)
		if r.augment.Pad > 0 || r.augment.Flip {
			r.augment.Apply(x, len(y), r.train.Shape, r.cfg.Seed, epoch, index)
		}
		lr := r.sched.At(step, epoch)
		analyse := r.analyzer.collects(step)
		loss, correct, err := r.trainer.Run(x, y, r.analyzer.capturesTraining(step))
		if err != nil {
			return fmt.Errorf("step %d: %w", step, err)
		}
		sum.Steps, sum.Epochs = step+1, epoch
		if err := r.metrics.Append(rundir.TrainRecord{Type: rundir.TypeTrain, Step: step, Epoch: epoch, LR: lr, Loss: analysis.Float(loss),
			Accuracy: float64(correct) / float64(len(y))}); err != nil {
			return err
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			sum.Status, sum.DivergedAtStep = StatusDiverged, &step
			r.progress.message("%s: diverged at step %d (loss %v)", r.cfg.Name, step, loss)
			return errors.Join(r.analyzer.closeWindow(step), r.analyzer.flush())
		}
		grads, err := r.trainer.Grads()
		if err != nil {
			return err
		}
		if analyse {
			if r.analyzer.due(step) {
				sum.AnalysisSteps++
			}
			if err := r.analyse(step, epoch, lr, x, y, grads); err != nil {
				return err
			}
		}
		if err := r.opt.Step(weights, grads, lr); err != nil {
			return err
		}
		r.epochLoss += loss * float64(len(y))
		r.epochCorrect += correct
		r.epochSeen += len(y)
		r.progress.step(step, epoch, loss, lr)
		if index == r.perEpoch-1 || step == r.totalSteps-1 {
			if err := r.endEpoch(step, epoch); err != nil {
				return err
			}
		}
		if r.opts.AfterStep != nil {
			r.opts.AfterStep(step)
		}
		r.step = step + 1
		last := r.step == r.totalSteps
		if every := r.cfg.Train.CheckpointEvery; every > 0 && r.step%every == 0 {
			r.checkpointDue = true
		}
		// A periodic checkpoint inside an analysis window waits for the window to close.
		if last || (r.checkpointDue && !r.analyzer.windowOpen()) {
			r.checkpointDue = false
			if last {
				sum.Status = StatusCompleted
			}
			if err := r.checkpoint(); err != nil {
				return err
			}
		}
	}
	sum.Status = StatusCompleted
	return nil
}

// endEpoch evaluates the test set and records the epoch's figures.
func (r *runner) endEpoch(step, epoch int) error {
	testLoss, testAcc, err := r.evaluator.Evaluate(r.test.X, r.test.Y)
	if err != nil {
		return err
	}
	rec := rundir.TestRecord{Type: rundir.TypeTest, Step: step, Epoch: epoch, TrainLoss: analysis.Float(r.epochLoss / float64(r.epochSeen)),
		TrainAccuracy: float64(r.epochCorrect) / float64(r.epochSeen), TestLoss: analysis.Float(testLoss), TestAccuracy: testAcc}
	if err := r.metrics.Append(rec); err != nil {
		return err
	}
	if err := errors.Join(r.analyzer.flush(), r.metrics.Sync(), r.condLog.Sync()); err != nil {
		return err
	}
	r.sum.Final = Final{TrainLoss: rec.TrainLoss, TrainAccuracy: analysis.Float(rec.TrainAccuracy), TestLoss: rec.TestLoss, TestAccuracy: analysis.Float(testAcc)}
	r.sum.BestTest = analysis.Float(math.Max(float64(r.sum.BestTest), testAcc))
	r.progress.message("%s: epoch %d train loss %.4f acc %.4f, test loss %.4f acc %.4f",
		r.cfg.Name, epoch, rec.TrainLoss, rec.TrainAccuracy, testLoss, testAcc)
	r.epochLoss, r.epochCorrect, r.epochSeen = 0, 0, 0
	return nil
}

func (r *runner) analyse(step, epoch int, lr float64, x []float32, y []int32, grads []*tensor.Dense) error {
	var values []*tensor.Dense
	for _, p := range r.trainer.Params() {
		values = append(values, p.Value)
	}
	weight := func(layer string) *tensor.Dense {
		if b, ok := r.weightOf[layer]; ok {
			return b.of(values)
		}
		return nil
	}
	grad := func(layer string) *tensor.Dense {
		if b, ok := r.weightOf[layer]; ok {
			return b.of(grads)
		}
		return nil
	}
	return r.analyzer.run(step, epoch, lr, heavyBall(r.opt), r.trainer, x, y, weight, grad)
}

// optimizerSpec returns the registered name and the options of a run's optimiser.
func optimizerSpec(o config.OptimConfig) (name string, options any) { return o.Type, o.Options }

// heavyBall returns the momentum of the stability ratio, or nil for an optimiser without
// heavy-ball momentum, whose records leave the ratio out.
func heavyBall(opt optim.Optimizer) *float64 {
	if mu, ok := optim.HeavyBallOf(opt); ok {
		return &mu
	}
	return nil
}

// scheduleOf returns the learning-rate schedule of an optimiser config.
func scheduleOf(o config.OptimConfig) optim.Schedule {
	s := optim.Schedule{Base: o.LR, Gamma: 1, WarmupSteps: o.Schedule.WarmupSteps, WarmupLR: o.Schedule.WarmupLR}
	if o.Schedule.Type == config.ScheduleMultistep {
		s.Milestones, s.Gamma = o.Schedule.Milestones, o.Schedule.Gamma
	}
	return s
}
