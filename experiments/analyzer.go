package experiments

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/backend"
	"github.com/lwca/lwca/data"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/hooks"
	"github.com/lwca/lwca/results"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// analyzer runs the conditioning analysis of a run on its schedule. The training path copies
// what an analysis needs (a window's rows, or a step's factor matrices; the parameters for the
// curvature; the captures for the K-FAC fidelity); forming and solving the factors, the
// curvature, the fidelity and the writing of records may go on in a background worker while
// training continues, in step order.
type analyzer struct {
	cfg    config.AnalysisConfig
	seed   uint64
	cond   *conditioner
	out    *results.Log
	spec   *spectraWriter // nil: spectra not kept
	probe  *train.Trainer // nil when the training pass itself is analysed
	source *data.Batcher  // average: fresh batches; fixed: the one fixed batch
	fixedX []float32      // fixed source: the analysis sample, passed in chunks of probe batch size
	fixedY []int32
	px     []float32 // probe input buffer
	py     []int32
	// gradsOf, if set, is called after each analysis pass of a step, before the factors are
	// read (lwca analyze takes the norms' gradients from the probe).
	gradsOf func(pass, passes int)
	// onLayer, if set, hears of the analysis of a step as it goes: done of its n layers are
	// finished, the last of them layer, which took `took` (done 0: the analysis begins). It is
	// called from the analysis worker when analysis.concurrent is set.
	onLayer func(step, done, n int, layer string, took time.Duration)
	curv    *curvatureAnalyzer // nil: analysis.curvature off
	// win is the open window of source window: the analysis step it began at and what was
	// measured there; nil between windows.
	win *openWindow
	// lastStep is the run's last training step: a window still open there closes with it.
	lastStep int
	queue    chan analysisWork
	// Beside training, a run with several OpenBLAS threads (threads, which the runner sets;
	// 0: never narrow) trains on one from the submission of an analysis until step
	// oneThreadUntil (0: not narrowed), so that the worker has the other core and the two
	// never share OpenBLAS's pool of threads. stepWork (multiply-adds of a training step's
	// analysed layers, 0 until the first analysis) and batch size the span.
	threads        int
	oneThreadUntil int
	stepWork       float64
	batch          float64
	wg             sync.WaitGroup
	mu             sync.Mutex
	err            error
	steps          int
}

// openWindow is an analysis (source window) whose captures are still being pooled: it began
// at step start and closes after step end. The norms, K-FAC fidelity and curvature are those of
// the first step, whose weights the records describe.
type openWindow struct {
	start, end, epoch int
	lr                float64
	momentum          *float64
	norms             map[string][2]float64
	fidelity          func() map[string]analysis.Record
	curvature         func() ([]analysis.Record, error)
}

// maxAutoWindow bounds the automatic window (analysis.window 0): past it, the cost of
// pooling grows faster than what the extra rank tells (see AnalysisConfig.Window).
const maxAutoWindow = 8

type analysisWork struct {
	step, epoch int
	lr          float64
	momentum    *float64 // nil: no stability ratio
	jobs        []factorJob
	fidelity    func() map[string]analysis.Record // nil: no layer's fidelity at this step
	curvature   func() ([]analysis.Record, error) // nil: no curvature at this step
}

func newAnalyzer(cfg config.Config, runDir string, net graph.Layer, store *graph.Store, trainSet *data.Set, trainer *train.Trainer, out *results.Log) (*analyzer, error) {
	ac := cfg.Analysis
	a := &analyzer{cfg: ac, seed: cfg.Seed, out: out,
		cond: newConditioner(ac.P, ac.Layers, analysis.FactorOptions{Centered: ac.Centered, AppendOne: ac.AppendBias})}
	a.cond.pool = ac.Source == config.SourceWindow
	probeBatch := 0
	switch ac.Source {
	case config.SourceBatch, config.SourceWindow:
		if ac.Fisher == config.FisherTrue {
			probeBatch = cfg.Data.BatchSize
		}
	case config.SourceFixed:
		n := min(ac.BatchSize, trainSet.N)
		probeBatch = n
		if ac.ChunkSize > 0 && ac.ChunkSize < n {
			probeBatch = largestDivisor(n, ac.ChunkSize)
			// Tiny chunks would change what batch-statistics layers compute (a chunk of one
			// normalises everything to its bias); refuse rather than analyse that.
			if 2*probeBatch < ac.ChunkSize {
				return nil, fmt.Errorf("analysis.chunk_size: the fixed sample of %d has no divisor between %d and %d to split it into equal chunks; choose analysis.batch_size a multiple of a number near %d",
					n, (ac.ChunkSize+1)/2, ac.ChunkSize, ac.ChunkSize)
			}
		}
		// A seeded sample of the training set, drawn once for the whole run.
		rng := rand.New(rand.NewPCG(cfg.Seed, 0xa11))
		perm := rng.Perm(trainSet.N)[:n]
		a.fixedX = make([]float32, n*trainSet.D)
		a.fixedY = make([]int32, n)
		for i, j := range perm {
			copy(a.fixedX[i*trainSet.D:], trainSet.Row(j))
			a.fixedY[i] = trainSet.Y[j]
		}
	case config.SourceAverage:
		probeBatch = cfg.Data.BatchSize
		a.source = data.NewBatcher(trainSet, cfg.Data.BatchSize, true, cfg.Seed^0xa7e7a6e)
	default:
		return nil, fmt.Errorf("analysis.source: unknown source %q", ac.Source)
	}
	if probeBatch > 0 {
		var err error
		if a.probe, err = train.NewProbe(net, store, probeBatch, trainSet.D); err != nil {
			return nil, fmt.Errorf("analysis: building the analysis pass: %w", err)
		}
		a.px = make([]float32, probeBatch*trainSet.D)
		a.py = make([]int32, probeBatch)
		trainer = a.probe
	}
	if trainer == nil {
		return nil, fmt.Errorf("analysis: no training program to analyse")
	}
	if err := a.cond.selectLayers(trainer.Hooks()); err != nil {
		return nil, err
	}
	if ac.Spectra && ac.Every > 0 {
		var err error
		if a.spec, err = newSpectraWriter(runDir); err != nil {
			return nil, err
		}
	}
	if ac.Curvature.Enabled() {
		c, err := newCurvatureAnalyzer(cfg, net, store, trainSet)
		if err != nil {
			return nil, err
		}
		a.curv = c
	}
	a.batch = float64(cfg.Data.BatchSize)
	if ac.Concurrent {
		a.queue = make(chan analysisWork, 1)
		go a.worker(a.queue) // not a.queue in the worker: close clears the field
	}
	return a, nil
}

// due reports whether step is an analysis step.
func (a *analyzer) due(step int) bool { return a.cfg.Every > 0 && step%a.cfg.Every == 0 }

// collects reports whether step's training pass belongs to an analysis: an analysis step, or
// a later step of its window.
func (a *analyzer) collects(step int) bool { return a.due(step) || a.win != nil }

// capturesTraining reports whether the training pass of step must capture.
func (a *analyzer) capturesTraining(step int) bool { return a.probe == nil && a.collects(step) }

// windowOpen reports whether an analysis is pooling steps: checkpoints wait until it closes,
// so that no analysis straddles one (a resumed run then repeats the uninterrupted run exactly).
func (a *analyzer) windowOpen() bool { return a.win != nil }

// run analyses step. trainer holds the step's captures when capturesTraining; x, y are the
// step's batch. weight and grad give each layer's W and ∂L/∂W for the norms. momentum is the
// optimiser's heavy-ball μ for the stability ratio, nil if it has none.
func (a *analyzer) run(step, epoch int, lr float64, momentum *float64, trainer *train.Trainer, x []float32, y []int32,
	weight, grad func(string) *tensor.Dense) error {
	if err := a.firstError(); err != nil {
		return err
	}
	if a.cfg.Source == config.SourceWindow {
		return a.pool(step, epoch, lr, momentum, trainer, x, y, weight, grad)
	}
	passes := 1
	switch {
	case a.probe == nil:
	case a.cfg.Source == config.SourceAverage:
		passes = a.cfg.Batches
	case a.cfg.Source == config.SourceFixed:
		passes = len(a.fixedY) / len(a.py)
	}
	a.cond.begin(passes)
	// Fidelity needs one pass's per-sample captures: the first's, before the next overwrites them.
	var fidelity func() map[string]analysis.Record
	if a.probe == nil {
		if err := a.cond.add(trainer.Hooks()); err != nil {
			return err
		}
		fidelity = a.fidelity(trainer.Hooks())
		a.measureStep(trainer.Hooks())
	} else {
		if a.cfg.Fisher == config.FisherTrue {
			a.sampleLabels(step)
		}
		for pass := 0; pass < passes; pass++ {
			switch a.cfg.Source {
			case config.SourceBatch:
				copy(a.px, x)
				copy(a.py, y)
			case config.SourceFixed:
				copy(a.px, a.fixedX[pass*len(a.px):])
				copy(a.py, a.fixedY[pass*len(a.py):])
			case config.SourceAverage:
				a.source.Next(a.px, a.py)
			}
			if _, _, err := a.probe.Run(a.px, a.py, true); err != nil {
				return fmt.Errorf("analysis pass at step %d: %w", step, err)
			}
			if err := a.cond.add(a.probe.Hooks()); err != nil {
				return err
			}
			if pass == 0 {
				fidelity = a.fidelity(a.probe.Hooks())
				a.measureStep(a.probe.Hooks())
			}
			if a.gradsOf != nil {
				a.gradsOf(pass, passes)
			}
		}
	}
	return a.submit(step, analysisWork{step: step, epoch: epoch, lr: lr, momentum: momentum, jobs: a.cond.jobs(tensorNorms(weight, grad)),
		fidelity: fidelity, curvature: a.prepareCurvature(step, epoch, lr, momentum)})
}

// prepareCurvature copies step's parameters for its curvature (see curvatureAnalyzer.prepare)
// once the worker is done with the previous copy; nil without curvature at step.
func (a *analyzer) prepareCurvature(step, epoch int, lr float64, momentum *float64) func() ([]analysis.Record, error) {
	if a.curv == nil {
		return nil
	}
	a.wg.Wait()
	return a.curv.prepare(step, epoch, lr, momentum)
}

// measureStep records, once, the multiply-adds of a training step's analysed layers from a
// pass's captures: three products (forward, and the backward's two) of a batch's rows with
// each weight.
func (a *analyzer) measureStep(set *hooks.Set) {
	if a.stepWork > 0 || set == nil {
		return
	}
	for _, p := range set.Points() {
		if p.X.Valid() && p.G.Valid() && p.Samples > 0 {
			rows := float64(p.X.Rows) / float64(p.Samples) * a.batch
			a.stepWork += 3 * rows * float64(p.X.Cols) * float64(p.G.Cols)
		}
	}
}

// sampleLabels makes the probe's loss draw each sample's label from the model's softmax (the
// true Fisher), seeded by the run and step.
func (a *analyzer) sampleLabels(step int) {
	rng := rand.New(rand.NewPCG(a.seed, 0x7f15e0000+uint64(step)))
	a.probe.Loss().SampleLabels(func(_ int, p []float64) int32 { return sampleClass(rng, p) })
}

// submit solves and writes an analysis step, here or in the worker; now is the step just
// trained. Beside training, a run with several BLAS threads narrows to one until the step
// returned by narrowUntil.
func (a *analyzer) submit(now int, w analysisWork) error {
	a.steps++
	if a.queue == nil {
		return a.do(w)
	}
	if a.threads > 1 {
		// widen waited for the worker at the last span's end; SetThreads must never run
		// beside it, whatever changes there.
		a.wg.Wait()
		a.oneThreadUntil = a.narrowUntil(now, w)
		backend.SetThreads(1)
	}
	a.wg.Add(1)
	a.queue <- w
	return nil
}

// narrowUntil is the step from which training takes its BLAS threads back after submitting w
// at step now: enough steps, by an estimate of the worker's work against a training step's,
// for the worker to finish on the other core, and no later than the next analysis step.
// It depends only on the config and the network, never on timing: a run's arithmetic depends
// on its BLAS threads, and a resumed or repeated run must switch at the same steps.
func (a *analyzer) narrowUntil(now int, w analysisWork) int {
	steps := 2 + int(math.Ceil(1.5*a.workSteps(w)))
	return min(now+1+steps, w.step+a.cfg.Every)
}

// workSteps estimates the worker's time on w in training steps. Units are multiply-adds at
// dsyrk's rate: forming a factor of r pooled rows and d dimensions costs r·d²/2 (or d·r²/2
// as a Gram matrix), its eigenvalues ≈ 2·min(r, d)³ (dsyevd's reduction runs at about a third
// of dsyrk's rate), and a training step 3·rows·in·out per analysed layer at 1.5 times that
// rate; a curvature product on n samples costs 1.2·n/batch steps, and the sharpness takes
// about 12 of them, each layer's blocks 80 more (blocks) or 200 more (full).
func (a *analyzer) workSteps(w analysisWork) float64 {
	if a.stepWork <= 0 {
		return float64(a.cfg.Every) // unknown: the whole period
	}
	work := 0.0
	factor := func(rows *pooledRows, dim int) {
		r := float64(dim) // formed on the training path: only the eigenvalues are left
		if rows != nil {
			r = float64(rows.rows)
			work += r * float64(dim) * min(r, float64(dim)) / 2
		}
		m := min(r, float64(dim))
		work += 2 * m * m * m
	}
	for _, j := range w.jobs {
		factor(j.rowsX, j.dimX)
		factor(j.rowsG, j.dimG)
	}
	steps := work / (a.stepWork / 1.5)
	if w.curvature != nil {
		products := 12.0
		switch a.curv.cfg.Preset {
		case config.CurvatureBlocks:
			products += 80 * float64(len(a.curv.layers))
		case config.CurvatureFull:
			products += 200 * float64(len(a.curv.layers))
		}
		steps += products * 1.2 * a.curv.samples / a.batch
	}
	return steps
}

// widen gives training its BLAS threads back at step oneThreadUntil, once the worker is done.
func (a *analyzer) widen(step int) {
	if a.oneThreadUntil == 0 || step < a.oneThreadUntil {
		return
	}
	a.wg.Wait()
	backend.SetThreads(a.threads)
	a.oneThreadUntil = 0
}

// restoreNarrowing resumes at step a run whose checkpoint was written while training ran on
// one BLAS thread until step until.
func (a *analyzer) restoreNarrowing(step, until int) {
	if a.threads > 1 && until > step {
		a.oneThreadUntil = until
		backend.SetThreads(1)
	}
}

// pool adds step's captures to the open window (source window), opening one at an analysis
// step, and closes it after its last step.
func (a *analyzer) pool(step, epoch int, lr float64, momentum *float64, trainer *train.Trainer, x []float32, y []int32,
	weight, grad func(string) *tensor.Dense) error {
	set := trainer.Hooks()
	if a.probe != nil { // the true Fisher: the step's batch again, with sampled labels
		a.sampleLabels(step)
		copy(a.px, x)
		copy(a.py, y)
		if _, _, err := a.probe.Run(a.px, a.py, true); err != nil {
			return fmt.Errorf("analysis pass at step %d: %w", step, err)
		}
		set = a.probe.Hooks()
	}
	if a.due(step) { // the previous window has closed: windowSize keeps windows ≤ every
		a.measureStep(set)
		k := a.windowSize(set)
		a.win = &openWindow{start: step, end: min(step+k-1, a.lastStep), epoch: epoch, lr: lr, momentum: momentum,
			norms: map[string][2]float64{}, fidelity: a.fidelity(set), curvature: a.prepareCurvature(step, epoch, lr, momentum)}
		for _, p := range set.Points() {
			a.win.norms[p.Layer] = [2]float64{frobenius(weight(p.Layer)), frobenius(grad(p.Layer))}
		}
		a.cond.begin(k)
	}
	if a.win == nil {
		return nil
	}
	if err := a.cond.add(set); err != nil {
		return err
	}
	if step >= a.win.end {
		return a.closeWindow(step)
	}
	return nil
}

// closeWindow submits the open window's analysis with the steps pooled so far (all of them,
// unless the run ended or diverged first), now being the step just trained. Without an open
// window it does nothing.
func (a *analyzer) closeWindow(now int) error {
	w := a.win
	if w == nil {
		return nil
	}
	a.win = nil
	norms := func(l string) (float64, float64) {
		if n, ok := w.norms[l]; ok {
			return n[0], n[1]
		}
		return math.NaN(), math.NaN()
	}
	return a.submit(now, analysisWork{step: w.start, epoch: w.epoch, lr: w.lr, momentum: w.momentum, jobs: a.cond.jobs(norms),
		fidelity: w.fidelity, curvature: w.curvature})
}

// windowSize is the number of steps an analysis pools: analysis.window, or else the fewest
// that give every analysed factor as many rows as dimensions (set holds one step's captures),
// at most maxAutoWindow; never more than analysis.every.
func (a *analyzer) windowSize(set *hooks.Set) int {
	k := a.cfg.Window
	if k <= 0 {
		k = 1
		for _, p := range set.Points() {
			if (a.cond.selected != nil && !a.cond.selected[p.Layer]) || !p.X.Valid() || !p.G.Valid() {
				continue
			}
			dx := analysis.FactorDim(p.X.Cols, a.cond.opts)
			k = max(k, (dx+p.X.Rows-1)/p.X.Rows, (p.G.Cols+p.G.Rows-1)/p.G.Rows)
		}
		k = min(k, maxAutoWindow)
	}
	if a.cfg.Every > 0 {
		k = min(k, a.cfg.Every)
	}
	return k
}

// fidelity measures the Kronecker approximation on the first pass's per-sample captures, for
// layers that see one row per sample and are small enough (analysis.fidelity_max_params; any
// size with the curvature presets blocks and full, which ask for K-FAC against the exact block
// in every layer). The training path only copies the captures; the returned function measures
// them (in the worker when the analysis runs beside training). nil: nothing to measure.
func (a *analyzer) fidelity(set *hooks.Set) func() map[string]analysis.Record {
	limit := a.cfg.FidelityMaxParams
	if limit <= 0 || set == nil {
		return nil
	}
	if p := a.cfg.Curvature.Preset; p == config.CurvatureBlocks || p == config.CurvatureFull {
		limit = math.MaxInt
	}
	type capture struct {
		layer   string
		x, g    []float64
		n, d, m int
	}
	var caps []capture
	for _, p := range set.Points() {
		if a.cond.selected != nil && !a.cond.selected[p.Layer] {
			continue
		}
		d, m := p.X.Cols, p.G.Cols
		if d > limit/m || p.X.Rows != p.Samples {
			continue
		}
		x, g := p.X.Float64(), p.G.Float64()
		if p.X.F64 != nil { // Float64 returns the capture itself, which the next pass overwrites
			x = slices.Clone(x[:p.X.Rows*d])
		}
		if p.G.F64 != nil {
			g = slices.Clone(g[:p.G.Rows*m])
		}
		caps = append(caps, capture{p.Layer, x, g, p.X.Rows, d, m})
	}
	if len(caps) == 0 {
		return nil
	}
	return func() map[string]analysis.Record {
		out := map[string]analysis.Record{}
		for _, c := range caps {
			f, err := analysis.KFACFidelity(c.x, c.g, c.n, c.d, c.m, a.cfg.P, a.cond.solver)
			if err != nil {
				a.setError(fmt.Errorf("analysis: K-FAC fidelity of %s: %w", c.layer, err))
				continue
			}
			out[c.layer] = f.Record()
		}
		return out
	}
}

func (a *analyzer) worker(queue <-chan analysisWork) {
	backgroundPriority()
	for w := range queue {
		if err := a.do(w); err != nil {
			a.setError(err)
		}
		a.wg.Done()
	}
}

func (a *analyzer) do(w analysisWork) error {
	var fidelity map[string]analysis.Record
	if w.fidelity != nil {
		fidelity = w.fidelity()
	}
	las := make([]LayerAnalysis, 0, len(w.jobs))
	a.reportLayer(w.step, 0, len(w.jobs), "", 0)
	for k, j := range w.jobs {
		start := time.Now()
		la, err := a.cond.solve(j, w.lr, w.momentum)
		if err != nil {
			a.reportLayer(w.step, len(w.jobs), len(w.jobs), "", 0) // the analysis is over
			return fmt.Errorf("step %d: %w", w.step, err)
		}
		a.reportLayer(w.step, k+1, len(w.jobs), j.layer, time.Since(start))
		if rec, ok := fidelity[j.layer]; ok {
			for _, f := range rec {
				la.Fidelity = append(la.Fidelity, analysis.Field{Key: "kfac_" + f.Key, Value: f.Value})
			}
		}
		for _, rec := range la.records(w.step, w.epoch) {
			if err := a.out.Append(rec); err != nil {
				return err
			}
		}
		las = append(las, la)
	}
	if w.curvature != nil {
		recs, err := w.curvature()
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := a.out.Append(rec); err != nil {
				return err
			}
		}
	}
	if a.spec != nil {
		return a.spec.write(w.step, w.epoch, las)
	}
	return nil
}

func (a *analyzer) reportLayer(step, done, n int, layer string, took time.Duration) {
	if a.onLayer != nil {
		a.onLayer(step, done, n, layer, took)
	}
}

func (a *analyzer) setError(err error) {
	a.mu.Lock()
	if a.err == nil {
		a.err = err
	}
	a.mu.Unlock()
}

func (a *analyzer) firstError() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// flush waits until every queued step is written and synced, and returns the first error.
func (a *analyzer) flush() error {
	a.wg.Wait()
	if err := a.firstError(); err != nil {
		return err
	}
	if a.spec != nil {
		return a.spec.sync()
	}
	return nil
}

// close flushes and stops the worker.
func (a *analyzer) close() error {
	err := a.flush()
	if a.oneThreadUntil != 0 { // the process may train again: leave it its threads
		backend.SetThreads(a.threads)
		a.oneThreadUntil = 0
	}
	if a.queue != nil {
		close(a.queue)
		a.queue = nil
	}
	if a.spec != nil {
		if cerr := a.spec.close(); err == nil {
			err = cerr
		}
	}
	return err
}

// sampleClass draws a class index from the probabilities p.
func sampleClass(rng *rand.Rand, p []float64) int32 {
	u := rng.Float64()
	acc := 0.0
	for j, v := range p {
		acc += v
		if u < acc {
			return int32(j)
		}
	}
	return int32(len(p) - 1)
}

// largestDivisor returns the largest divisor of n that is at most limit (≥ 1), so that a
// sample of n splits into equal chunks.
func largestDivisor(n, limit int) int {
	for d := min(n, limit); d > 1; d-- {
		if n%d == 0 {
			return d
		}
	}
	return 1
}
