package experiments

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/lwca/lwca/checkpoint"
	"github.com/lwca/lwca/data"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/npy"
	"github.com/lwca/lwca/optim"
	"github.com/lwca/lwca/results"
	"github.com/lwca/lwca/rundir"
	"gopkg.in/yaml.v3"
	"gorgonia.org/tensor"
)

// runState is checkpoint/state.json: everything besides the model and optimiser tensors that
// a run needs to continue exactly where it was.
type runState struct {
	Format          int                `json:"format"` // 2; format 1 is read too
	Step            int                `json:"step"`   // the next step to run
	EpochLoss       float64            `json:"epoch_loss_sum"`
	EpochCorrect    int                `json:"epoch_correct"`
	EpochSeen       int                `json:"epoch_seen"`
	Batcher         data.BatcherState  `json:"batcher"`
	AnalysisBatcher *data.BatcherState `json:"analysis_batcher,omitempty"`
	Logs            map[string]int64   `json:"logs"`         // result file → its size at the checkpoint
	SpectraRows     int                `json:"spectra_rows"` // rows of every spectra file
	// CurvatureStart names the file (in the checkpoint) of analysis.curvature's Lanczos
	// start vector, the last top Hessian eigenvector; "" when there is none.
	CurvatureStart string `json:"curvature_start,omitempty"`
	// OneThreadUntil is the step from which training takes its BLAS threads back after an
	// analysis solved beside it (0: none pending), so that a resumed run switches where the
	// uninterrupted one does.
	OneThreadUntil int             `json:"one_thread_until,omitempty"`
	Optimizer      *optimizerState `json:"optimizer"`
	Velocity       []string        `json:"velocity,omitempty"` // format 1: SGD's optimizer/<param>.velocity.npy
	Summary        Summary         `json:"summary"`
	// ConfigSHA256 is the hash of the resolved config the checkpoint was written with, also
	// kept as checkpoint/config.yaml to name what changed; "" in older checkpoints.
	ConfigSHA256 string `json:"config_sha256,omitempty"`
}

// optimizerState is the optimiser's part of state.json. Its buffers are the files
// optimizer/<param>.<buffer>.npy, of the parameter's shape and dtype.
type optimizerState struct {
	Type    string              `json:"type"`              // the registered name
	Buffers map[string][]string `json:"buffers"`           // parameter → its buffers' names
	Scalars map[string]float64  `json:"scalars,omitempty"` // such as Adam's step count
}

// curvatureStartFile holds analysis.curvature's Lanczos start vector in a checkpoint.
const curvatureStartFile = "curvature_start.npy"

// errNoCheckpoint: the run ended before writing its first checkpoint.
var errNoCheckpoint = errors.New("no checkpoint")

// checkpoint writes the complete state after the steps run so far. The directory is built
// beside the old one and swapped in, so a crash at any point leaves a usable checkpoint; a
// failed write removes its partial directory.
func (r *runner) checkpoint() (err error) {
	if err := errors.Join(r.analyzer.flush(), r.metrics.Sync(), r.condLog.Sync()); err != nil {
		return err
	}
	// The checkpoint's summary carries the wall time so far, which a resumed run adds to.
	r.stampWall()
	st := runState{Format: 2, Step: r.step, EpochLoss: r.epochLoss, EpochCorrect: r.epochCorrect,
		EpochSeen: r.epochSeen, Batcher: r.batcher.State(), Logs: map[string]int64{}, Summary: *r.sum,
		OneThreadUntil: r.analyzer.oneThreadUntil}
	st.Summary.Backend = nil
	if r.analyzer.source != nil {
		bs := r.analyzer.source.State()
		st.AnalysisBatcher = &bs
	}
	if r.analyzer.spec != nil {
		st.SpectraRows = r.analyzer.spec.steps.Rows()
	}
	for _, f := range []string{MetricsFile, ConditioningFile} {
		fi, err := os.Stat(filepath.Join(r.out, f))
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		st.Logs[f] = fi.Size()
	}
	final := filepath.Join(r.out, CheckpointDir)
	tmp, old := final+".tmp", final+".old"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	resolved, err := r.cfg.Marshal()
	if err != nil {
		return err
	}
	st.ConfigSHA256 = configHash(resolved)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := results.WriteFile(filepath.Join(tmp, ConfigFile), resolved); err != nil {
		return err
	}
	if err := checkpoint.SaveModel(filepath.Join(tmp, "model"), r.store, r.step); err != nil {
		return err
	}
	if c := r.analyzer.curv; c != nil && c.start != nil {
		st.CurvatureStart = curvatureStartFile
		if err := npy.WriteFile(filepath.Join(tmp, curvatureStartFile), []int{len(c.start)}, c.start); err != nil {
			return err
		}
	}
	opt, err := r.saveOptimizer(filepath.Join(tmp, "optimizer"))
	if err != nil {
		return err
	}
	st.Optimizer = opt
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := results.WriteFile(filepath.Join(tmp, "state.json"), append(b, '\n')); err != nil {
		return err
	}
	// Swap: final → old, tmp → final, remove old. readCheckpoint falls back to old.
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(final, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return r.writeSummary()
}

// readCheckpoint loads checkpoint/state.json of a run directory.
func readCheckpoint(dir string) (*runState, error) {
	cdir := filepath.Join(dir, CheckpointDir)
	_, err := os.Stat(filepath.Join(cdir, "state.json"))
	if err == nil {
		// A crash after the swap, while the previous checkpoint was being removed, leaves
		// part of it as .old beside the complete new one: finish the removal.
		if err := os.RemoveAll(cdir + ".old"); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		// A crash between the two renames of a checkpoint swap leaves the previous one as .old.
		if _, err := os.Stat(filepath.Join(cdir+".old", "state.json")); err == nil {
			if err := os.RemoveAll(cdir); err != nil {
				return nil, err
			}
			if err := os.Rename(cdir+".old", cdir); err != nil {
				return nil, fmt.Errorf("checkpoint: %w", err)
			}
		} else {
			return nil, fmt.Errorf("%s: %w", dir, errNoCheckpoint)
		}
	}
	path := filepath.Join(cdir, "state.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var st runState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("checkpoint: %s is damaged: %w", path, err)
	}
	switch {
	case st.Format == 1: // SGD momentum buffers were listed under velocity
		st.Optimizer = &optimizerState{Type: "sgd", Buffers: map[string][]string{}}
		for _, p := range st.Velocity {
			st.Optimizer.Buffers[p] = []string{"velocity"}
		}
	case st.Format != 2:
		return nil, fmt.Errorf("checkpoint: %s has format %d, this version reads formats 1 and 2", path, st.Format)
	case st.Optimizer == nil:
		return nil, fmt.Errorf("checkpoint: %s has no optimizer state", path)
	}
	if st.Step < 0 || st.EpochSeen < 0 || st.SpectraRows < 0 {
		return nil, fmt.Errorf("checkpoint: %s holds negative counts", path)
	}
	if st.Summary.Steps != st.Step {
		return nil, fmt.Errorf("checkpoint: %s: step is %d but summary.steps is %d; expected the same count of steps run", path, st.Step, st.Summary.Steps)
	}
	return &st, nil
}

func configHash(resolved []byte) string {
	h := sha256.Sum256(resolved)
	return hex.EncodeToString(h[:])
}

// checkConfig compares the run's config.yaml with the one the checkpoint was written with. A
// difference is an error naming the changed fields, unless allow, which records it in sum.
func (st *runState) checkConfig(dir string, cfg config.Config, allow bool, sum *Summary) error {
	if st.ConfigSHA256 == "" {
		return nil
	}
	now, err := cfg.Marshal()
	if err != nil {
		return err
	}
	if configHash(now) == st.ConfigSHA256 {
		return nil
	}
	var fields []string
	if then, err := os.ReadFile(filepath.Join(dir, CheckpointDir, ConfigFile)); err == nil {
		fields = changedFields(then, now)
	}
	if len(fields) == 0 {
		fields = []string{"?"}
	}
	if !allow {
		return fmt.Errorf("%s: %s differs from the config of the checkpoint at step %d (changed: %s); restore it, or continue with the changed config with lwca run --resume --allow-config-change",
			dir, ConfigFile, st.Step, strings.Join(fields, ", "))
	}
	sum.ConfigChanges = append(sum.ConfigChanges, ConfigChange{Step: st.Step, Fields: fields})
	return nil
}

// changedFields lists the dotted paths whose values differ between two YAML documents.
func changedFields(a, b []byte) []string {
	var ma, mb any
	if yaml.Unmarshal(a, &ma) != nil || yaml.Unmarshal(b, &mb) != nil {
		return nil
	}
	var out []string
	var walk func(path string, x, y any)
	walk = func(path string, x, y any) {
		mx, okx := x.(map[string]any)
		my, oky := y.(map[string]any)
		if !okx || !oky {
			if !reflect.DeepEqual(x, y) {
				out = append(out, path)
			}
			return
		}
		keys := map[string]bool{}
		for k := range mx {
			keys[k] = true
		}
		for k := range my {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walk(p, mx[k], my[k])
		}
	}
	walk("", ma, mb)
	return out
}

// rollBack cuts the result files back to their state at the checkpoint.
func (st *runState) rollBack(dir string) error {
	for f, size := range st.Logs {
		if f != MetricsFile && f != ConditioningFile {
			return fmt.Errorf("checkpoint: unknown result file %q", f)
		}
		path := filepath.Join(dir, f)
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if fi.Size() < size {
			return fmt.Errorf("checkpoint: %s is shorter (%d bytes) than at the checkpoint (%d bytes)", path, fi.Size(), size)
		}
		if err := os.Truncate(path, size); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, SpectraDir, rundir.SpectraIndexFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var idx SpectraIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		return fmt.Errorf("checkpoint: spectra index: %w", err)
	}
	truncate := func(name, dtype string, cols int) error {
		a, err := npy.OpenAppender(filepath.Join(dir, SpectraDir, name), dtype, cols)
		if err != nil {
			return err
		}
		if a.Rows() < st.SpectraRows {
			a.Close()
			return fmt.Errorf("checkpoint: %s has %d rows, the checkpoint counts %d", name, a.Rows(), st.SpectraRows)
		}
		return errors.Join(a.Truncate(st.SpectraRows), a.Close())
	}
	for _, f := range idx.Files {
		if err := truncate(f.File, "<f8", f.Dim); err != nil {
			return err
		}
	}
	return truncate(idx.Steps, "<i8", 2)
}

// restore loads the model, optimiser and positions of a checkpoint into a fresh runner.
func (r *runner) restore(st *runState) error {
	cdir := filepath.Join(r.out, CheckpointDir)
	m, err := checkpoint.LoadModel(filepath.Join(cdir, "model"), r.store)
	if err != nil {
		return err
	}
	// The parts of a checkpoint must agree on how far the run got.
	if m.Step != st.Step {
		return fmt.Errorf("checkpoint: %s says step %d, its model was saved at step %d; expected the same step", filepath.Join(cdir, "state.json"), st.Step, m.Step)
	}
	if dealt := st.Batcher.Epoch*r.perEpoch + st.Batcher.Batch; dealt != st.Step {
		return fmt.Errorf("checkpoint: %s says step %d, its batcher has dealt %d batches (epoch %d, batch %d); expected one batch per step",
			filepath.Join(cdir, "state.json"), st.Step, dealt, st.Batcher.Epoch, st.Batcher.Batch)
	}
	if err := r.restoreOptimizer(filepath.Join(cdir, "optimizer"), st.Optimizer); err != nil {
		return err
	}
	if err := r.batcher.Restore(st.Batcher); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if (st.AnalysisBatcher != nil) != (r.analyzer.source != nil) {
		return errors.New("checkpoint: the analysis source differs from the run's config")
	}
	if st.AnalysisBatcher != nil {
		if err := r.analyzer.source.Restore(*st.AnalysisBatcher); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	if st.Step > r.totalSteps {
		return fmt.Errorf("checkpoint: step %d is past the run's %d steps", st.Step, r.totalSteps)
	}
	if c := r.analyzer.curv; c != nil && st.CurvatureStart != "" {
		path := filepath.Join(cdir, filepath.Base(st.CurvatureStart))
		a, err := npy.ReadFile(path)
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if n := c.dim(); len(a.F64) != n || len(a.Shape) != 1 {
			return fmt.Errorf("checkpoint: %s holds a %s array of shape %v; expected a float64 vector of the network's %d parameters", path, a.Dtype, a.Shape, n)
		}
		c.start = a.F64
	}
	r.analyzer.restoreNarrowing(st.Step, st.OneThreadUntil)
	r.step, r.epochLoss, r.epochCorrect, r.epochSeen = st.Step, st.EpochLoss, st.EpochCorrect, st.EpochSeen
	return nil
}

// saveOptimizer writes the optimiser's buffers into dir and returns what state.json records.
func (r *runner) saveOptimizer(dir string) (*optimizerState, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	s := r.opt.State()
	out := &optimizerState{Type: r.optName, Buffers: map[string][]string{}, Scalars: s.Scalars}
	params := r.trainer.Params()
	if len(s.Buffers) > len(params) {
		return nil, fmt.Errorf("checkpoint: optimiser state for %d parameters, the model has %d", len(s.Buffers), len(params))
	}
	for i, bufs := range s.Buffers {
		p := params[i]
		for _, name := range slices.Sorted(maps.Keys(bufs)) {
			if !validBufferName(name) {
				return nil, fmt.Errorf("checkpoint: optimiser buffer name %q", name)
			}
			if err := npy.WriteFile(filepath.Join(dir, p.Name+"."+name+".npy"), p.Value.Shape(), bufs[name]); err != nil {
				return nil, fmt.Errorf("checkpoint: %w", err)
			}
			out.Buffers[p.Name] = append(out.Buffers[p.Name], name)
		}
	}
	return out, nil
}

// restoreOptimizer loads the optimiser's state from dir, as saveOptimizer described it.
func (r *runner) restoreOptimizer(dir string, st *optimizerState) error {
	if st.Type != r.optName {
		return fmt.Errorf("checkpoint: holds the state of optimiser %q, the run's is %q", st.Type, r.optName)
	}
	params := r.trainer.Params()
	index := map[string]int{}
	for i, p := range params {
		index[p.Name] = i
	}
	s := optim.State{Buffers: make([]map[string]any, len(params)), Scalars: st.Scalars}
	for _, name := range slices.Sorted(maps.Keys(st.Buffers)) {
		i, ok := index[name]
		if !ok {
			return fmt.Errorf("checkpoint: optimiser state for unknown parameter %q", name)
		}
		s.Buffers[i] = map[string]any{}
		for _, buf := range st.Buffers[name] {
			if !validBufferName(buf) {
				return fmt.Errorf("checkpoint: optimiser buffer name %q", buf)
			}
			a, err := npy.ReadFile(filepath.Join(dir, name+"."+buf+".npy"))
			if err != nil {
				return fmt.Errorf("checkpoint: %w", err)
			}
			size := params[i].Value.Size()
			switch {
			case a.F32 != nil && len(a.F32) == size && r.store.Dtype == tensor.Float32:
				s.Buffers[i][buf] = a.F32
			case a.F64 != nil && len(a.F64) == size && r.store.Dtype == tensor.Float64:
				s.Buffers[i][buf] = a.F64
			default:
				return fmt.Errorf("checkpoint: optimiser buffer %s of %s has %s %v, expected %d values of the model's dtype %s",
					buf, name, a.Dtype, a.Shape, size, r.store.Dtype)
			}
		}
	}
	if err := r.opt.SetState(s); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// validBufferName reports whether a buffer name makes a plain file name.
func validBufferName(name string) bool {
	return name != "" && !strings.ContainsAny(name, `/\`) && !strings.HasPrefix(name, ".")
}
