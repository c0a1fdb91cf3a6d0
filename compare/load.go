package compare

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/results"
)

// File names in run and sweep directories. They are the names package experiments writes;
// compare reads only what is on disk and does not link the training code.
const (
	ConfigFile       = "config.yaml"
	MetricsFile      = "metrics.jsonl"
	ConditioningFile = "conditioning.jsonl"
	SummaryFile      = "summary.json"
	ManifestFile     = "manifest.json"
)

// Run statuses as written in summary.json.
const (
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusDiverged  = "diverged"
	StatusStopped   = "stopped"
	StatusFailed    = "failed"
)

// Factors of a conditioning record.
const (
	FactorX      = "x"
	FactorGrad   = "grad"
	FactorFisher = "fisher"
)

// Factors lists the factors in report order.
var Factors = []string{FactorX, FactorGrad, FactorFisher}

// Summary holds the fields of summary.json that a comparison uses.
type Summary struct {
	Name           string   `json:"name"`
	Status         string   `json:"status"`
	Error          string   `json:"error"`
	DivergedAtStep *int     `json:"diverged_at_step"`
	Steps          int      `json:"steps"`
	Epochs         int      `json:"epochs"`
	AnalysisSteps  int      `json:"analysis_steps"`
	Layers         []string `json:"layers"`
	Final          struct {
		TrainLoss     analysis.Float `json:"train_loss"`
		TrainAccuracy analysis.Float `json:"train_accuracy"`
		TestLoss      analysis.Float `json:"test_loss"`
		TestAccuracy  analysis.Float `json:"test_accuracy"`
	} `json:"final"`
	BestTest    analysis.Float `json:"best_test_accuracy"`
	WallSeconds float64        `json:"wall_seconds"`
}

// TrainPoint is one "train" record of metrics.jsonl: the mini-batch loss of a step.
type TrainPoint struct {
	Step, Epoch        int
	LR, Loss, Accuracy float64
}

// TestPoint is one "test" record of metrics.jsonl, written at the end of an epoch.
type TestPoint struct {
	Step, Epoch              int
	TrainLoss, TrainAccuracy float64
	TestLoss, TestAccuracy   float64
}

// Record is one line of conditioning.jsonl: the metrics of one factor of one layer at one
// analysis step. Values holds every numeric field by its key ("lambda_max", "kappa_p0.5",
// "stability_ratio", …), with "+Inf", "-Inf" and "NaN" strings read as those values.
type Record struct {
	Step, Epoch   int
	Layer, Factor string
	Values        map[string]float64
}

// Value returns the value of key, or NaN if the record has none.
func (r *Record) Value(key string) float64 {
	if v, ok := r.Values[key]; ok {
		return v
	}
	return math.NaN()
}

// Run is a run directory read from disk.
type Run struct {
	Dir   string
	Label string // a short name for legends and tables; unique within a comparison

	// Config maps the dotted path of every scalar or list in config.yaml to its YAML text;
	// nil when the directory has no config.yaml.
	Config  map[string]string
	Summary Summary
	Train   []TrainPoint
	Test    []TestPoint
	Records []Record // in file order: by step, then layer, then factor

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
	if !IsRunDir(dir) {
		return nil, fmt.Errorf("compare: %s is not a run directory (no %s or %s)", dir, SummaryFile, ConfigFile)
	}
	if b, err := os.ReadFile(filepath.Join(dir, SummaryFile)); err == nil {
		if err := json.Unmarshal(b, &r.Summary); err != nil {
			return nil, fmt.Errorf("compare: %s: %w", filepath.Join(dir, SummaryFile), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, ConfigFile)); err == nil {
		if r.Config, err = Flatten(b); err != nil {
			return nil, fmt.Errorf("compare: %s: %w", filepath.Join(dir, ConfigFile), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if err := readLog(filepath.Join(dir, MetricsFile), r.addMetric); err != nil {
		return nil, err
	}
	if err := readLog(filepath.Join(dir, ConditioningFile), r.addRecord); err != nil {
		return nil, err
	}
	if r.Summary.Name == "" {
		r.Summary.Name = r.Config["name"]
	}
	r.buildIndex()
	return r, nil
}

// IsRunDir reports whether dir holds a run: a summary.json or a config.yaml.
func IsRunDir(dir string) bool {
	for _, f := range []string{SummaryFile, ConfigFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

func readLog(path string, fn func([]byte) error) error {
	err := results.ReadLog(path, func(line []byte) error {
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		return fn(line)
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	return nil
}

func (r *Run) addMetric(line []byte) error {
	var m struct {
		Type          string         `json:"type"`
		Step          int            `json:"step"`
		Epoch         int            `json:"epoch"`
		LR            analysis.Float `json:"lr"`
		Loss          analysis.Float `json:"loss"`
		Accuracy      analysis.Float `json:"accuracy"`
		TrainLoss     analysis.Float `json:"train_loss"`
		TrainAccuracy analysis.Float `json:"train_accuracy"`
		TestLoss      analysis.Float `json:"test_loss"`
		TestAccuracy  analysis.Float `json:"test_accuracy"`
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return err
	}
	switch m.Type {
	case "train":
		r.Train = append(r.Train, TrainPoint{m.Step, m.Epoch, float64(m.LR), float64(m.Loss), float64(m.Accuracy)})
	case "test":
		r.Test = append(r.Test, TestPoint{m.Step, m.Epoch, float64(m.TrainLoss), float64(m.TrainAccuracy),
			float64(m.TestLoss), float64(m.TestAccuracy)})
	}
	return nil // other record types are for other readers
}

func (r *Run) addRecord(line []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return err
	}
	rec := Record{Values: make(map[string]float64, len(raw))}
	for k, v := range raw {
		var err error
		switch k {
		case "step":
			err = json.Unmarshal(v, &rec.Step)
		case "epoch":
			err = json.Unmarshal(v, &rec.Epoch)
		case "layer":
			err = json.Unmarshal(v, &rec.Layer)
		case "factor":
			err = json.Unmarshal(v, &rec.Factor)
		default:
			var f analysis.Float
			if json.Unmarshal(v, &f) == nil {
				rec.Values[k] = float64(f)
			} // not a number: a field this reader has no use for
		}
		if err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
	}
	if rec.Layer == "" || rec.Factor == "" {
		return errors.New("conditioning record without layer or factor")
	}
	r.Records = append(r.Records, rec)
	return nil
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
func (r *Run) Series(layer, factor string) []*Record {
	if r.index == nil {
		r.buildIndex()
	}
	ix := r.index[recKey{layer, factor}]
	out := make([]*Record, len(ix))
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
	case s == StatusDiverged && r.Summary.DivergedAtStep != nil:
		return fmt.Sprintf("diverged at step %d", *r.Summary.DivergedAtStep)
	case s == StatusFailed && r.Summary.Error != "":
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
		case IsRunDir(p):
			r, err := LoadRun(p)
			if err != nil {
				return nil, nil, err
			}
			runs = append(runs, r)
		case fileExists(filepath.Join(p, ManifestFile)):
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
				if e.IsDir() && IsRunDir(sub) {
					r, err := LoadRun(sub)
					if err != nil {
						return nil, nil, err
					}
					runs = append(runs, r)
				}
			}
			if len(runs) == n {
				return nil, nil, fmt.Errorf("compare: %s holds no run directory and no %s", p, ManifestFile)
			}
		}
	}
	uniqueLabels(runs)
	return runs, warnings, nil
}

// Manifest is the part of a sweep's manifest.json that a comparison reads.
type Manifest struct {
	Name string `json:"name"`
	Runs []struct {
		Name  string `json:"name"`
		Dir   string `json:"dir"`   // relative to the sweep directory
		Error string `json:"error"` // set when the run's config was invalid
	} `json:"runs"`
}

func loadManifest(dir string) ([]*Run, []string, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("compare: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("compare: %s: %w", path, err)
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
		if !IsRunDir(sub) {
			if mr.Error != "" {
				msg, _, _ := strings.Cut(mr.Error, "\n")
				warnings = append(warnings, fmt.Sprintf("%s: run %s has an invalid config: %s", path, mr.Name, msg))
			} else {
				warnings = append(warnings, fmt.Sprintf("%s: run %s has not been run (no %s)", path, mr.Name, SummaryFile))
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
