package compare

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/lwca/lwca/flatyaml"
	"github.com/lwca/lwca/rundir"
)

// Run is a run directory read from disk.
type Run struct {
	Dir   string
	Label string // a short name for legends and tables; unique within a comparison

	// Config maps the dotted path of every scalar or list in config.yaml to its YAML text;
	// nil when the directory has no config.yaml.
	Config  map[string]string
	Summary rundir.Summary
	Train   []rundir.TrainRecord
	Test    []rundir.TestRecord
	Records []rundir.ConditioningRecord // in file order: by step, then layer, then factor

	// Spectra gives stored eigenvalue spectra; by default a SpectraDir on Dir, which reports
	// ErrNoSpectrum for anything not on disk.
	Spectra Spectra

	index map[recKey][]int // layer/factor → indices of Records, by increasing step
}

type recKey struct{ layer, factor string }

// LoadRun reads the run directory dir. Missing record files are read as empty (a run that
// failed before its first step has none); a directory with neither config.yaml nor
// summary.json is not a run and is an error.
func LoadRun(dir string) (*Run, error) {
	r := &Run{Dir: dir, Label: filepath.Base(filepath.Clean(dir)), Spectra: NewSpectraDir(dir)}
	if !rundir.IsRunDir(dir) {
		return nil, fmt.Errorf("compare: %s is not a run directory (no %s or %s)", dir, rundir.SummaryFile, rundir.ConfigFile)
	}
	if s, err := rundir.ReadSummary(dir); err == nil {
		r.Summary = *s
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, rundir.ConfigFile)); err == nil {
		if r.Config, err = flatyaml.Flatten(b); err != nil {
			return nil, fmt.Errorf("compare: %s: %w", filepath.Join(dir, rundir.ConfigFile), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("compare: %w", err)
	}
	var err error
	if r.Train, r.Test, err = rundir.ReadMetrics(dir); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if r.Records, err = rundir.ReadConditioning(dir); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if r.Summary.Name == "" {
		r.Summary.Name = r.Config["name"]
	}
	r.buildIndex()
	return r, nil
}

func (r *Run) buildIndex() {
	r.index = map[recKey][]int{}
	for i, rec := range r.Records {
		k := recKey{rec.Layer, rec.Factor}
		r.index[k] = append(r.index[k], i)
	}
	for _, ix := range r.index {
		sort.SliceStable(ix, func(a, b int) bool { return r.Records[ix[a]].Step < r.Records[ix[b]].Step })
	}
}

// Series returns the records of one layer and factor in increasing step order.
func (r *Run) Series(layer, factor string) []*rundir.ConditioningRecord {
	if r.index == nil {
		r.buildIndex()
	}
	ix := r.index[recKey{layer, factor}]
	out := make([]*rundir.ConditioningRecord, len(ix))
	for i, j := range ix {
		out[i] = &r.Records[j]
	}
	return out
}

// Layers returns the run's weighted layers in network order: summary.json's list, then any
// further layer met in the records.
func (r *Run) Layers() []string {
	out := slices.Clone(r.Summary.Layers)
	for _, rec := range r.Records {
		if !slices.Contains(out, rec.Layer) {
			out = append(out, rec.Layer)
		}
	}
	return out
}

// AnalysisSteps returns the distinct steps that have conditioning records, increasing.
func (r *Run) AnalysisSteps() []int {
	var out []int
	for _, rec := range r.Records {
		out = append(out, rec.Step)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// LastStep returns the last step the run trained (or tried to train): the last train
// record's step, or summary.json's step count minus one, or -1 for a run with no step.
func (r *Run) LastStep() int {
	last := r.Summary.Steps - 1
	if n := len(r.Train); n > 0 {
		last = max(last, r.Train[n-1].Step)
	}
	if n := len(r.Records); n > 0 {
		last = max(last, r.Records[n-1].Step)
	}
	return last
}

// StepsPerEpoch estimates the number of steps in an epoch: the first step of epoch 1, or the
// step of the first end-of-epoch evaluation plus one, or the number of train records when the
// run never finished an epoch (0 when it has none).
func (r *Run) StepsPerEpoch() int {
	for _, p := range r.Train {
		if p.Epoch >= 1 {
			return p.Step
		}
	}
	if len(r.Test) > 0 {
		return r.Test[0].Step + 1
	}
	return len(r.Train)
}

// Norm returns the run's model.norm setting, or "" if it has no config.
func (r *Run) Norm() string { return r.Config["model.norm"] }

// StatusText describes the run's outcome: "completed", "diverged at step 120", "failed: …".
func (r *Run) StatusText() string {
	s := r.Summary.Status
	switch {
	case s == "":
		return "unknown"
	case s == rundir.StatusDiverged && r.Summary.DivergedAtStep != nil:
		return fmt.Sprintf("diverged at step %d", *r.Summary.DivergedAtStep)
	case s == rundir.StatusFailed && r.Summary.Error != "":
		msg, _, _ := strings.Cut(r.Summary.Error, "\n")
		return "failed: " + msg
	}
	return s
}

// Discover reads the runs under each path, in order. A path is a run directory, a sweep
// directory with a manifest.json (its runs in manifest order, labelled by their manifest
// names), or a directory whose immediate subdirectories are run directories (in name
// order). Runs listed in a manifest but not on disk are skipped with a note in the returned
// warnings. Labels are made unique.
func Discover(paths ...string) (runs []*Run, warnings []string, err error) {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("compare: %w", err)
		}
		if !fi.IsDir() {
			return nil, nil, fmt.Errorf("compare: %s is not a directory", p)
		}
		switch {
		case rundir.IsRunDir(p):
			r, err := LoadRun(p)
			if err != nil {
				return nil, nil, err
			}
			runs = append(runs, r)
		case fileExists(filepath.Join(p, rundir.ManifestFile)):
			rs, ws, err := loadManifest(p)
			if err != nil {
				return nil, nil, err
			}
			runs, warnings = append(runs, rs...), append(warnings, ws...)
		default:
			ents, err := os.ReadDir(p)
			if err != nil {
				return nil, nil, fmt.Errorf("compare: %w", err)
			}
			n := len(runs)
			for _, e := range ents {
				sub := filepath.Join(p, e.Name())
				if e.IsDir() && rundir.IsRunDir(sub) {
					r, err := LoadRun(sub)
					if err != nil {
						return nil, nil, err
					}
					runs = append(runs, r)
				}
			}
			if len(runs) == n {
				return nil, nil, fmt.Errorf("compare: %s holds no run directory and no %s", p, rundir.ManifestFile)
			}
		}
	}
	uniqueLabels(runs)
	return runs, warnings, nil
}

func loadManifest(dir string) ([]*Run, []string, error) {
	path := filepath.Join(dir, rundir.ManifestFile)
	m, err := rundir.ReadManifest(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("compare: %w", err)
	}
	var runs []*Run
	var warnings []string
	for _, mr := range m.Runs {
		sub := mr.Dir
		if sub == "" {
			sub = mr.Name
		}
		if !filepath.IsAbs(sub) {
			sub = filepath.Join(dir, sub)
		}
		if !rundir.IsRunDir(sub) {
			if mr.Error != "" {
				msg, _, _ := strings.Cut(mr.Error, "\n")
				warnings = append(warnings, fmt.Sprintf("%s: run %s has an invalid config: %s", path, mr.Name, msg))
			} else {
				warnings = append(warnings, fmt.Sprintf("%s: run %s has not been run (no %s)", path, mr.Name, rundir.SummaryFile))
			}
			continue
		}
		r, err := LoadRun(sub)
		if err != nil {
			return nil, nil, err
		}
		if mr.Name != "" {
			r.Label = mr.Name
		}
		runs = append(runs, r)
	}
	if len(runs) == 0 {
		return nil, nil, fmt.Errorf("compare: no run of %s has been run yet", path)
	}
	return runs, warnings, nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// uniqueLabels prefixes repeated labels with their parent directories until they differ.
func uniqueLabels(runs []*Run) {
	for depth := 1; depth < 8; depth++ {
		count := map[string]int{}
		for _, r := range runs {
			count[r.Label]++
		}
		clash := false
		for _, r := range runs {
			if count[r.Label] > 1 {
				clash = true
				parts := strings.Split(filepath.ToSlash(filepath.Clean(r.Dir)), "/")
				if depth < len(parts) {
					r.Label = strings.Join(parts[len(parts)-1-depth:], "/")
				}
			}
		}
		if !clash {
			return
		}
	}
	count := map[string]int{}
	for _, r := range runs {
		count[r.Label]++
		if n := count[r.Label]; n > 1 {
			r.Label = fmt.Sprintf("%s#%d", r.Label, n)
		}
	}
}
