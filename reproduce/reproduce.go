// Package reproduce runs the experiments behind the paper's four findings and checks, from
// the files the runs wrote, whether each effect goes the way the paper reports.
//
//	res, err := reproduce.Run(ctx, "bn-stability", reproduce.Options{
//		Configs: "configs/reproduce", Out: "runs/reproduce/bn-stability-quick", Quick: true})
//	if err != nil {
//		log.Fatal(err) // a run could not be carried out
//	}
//	for _, c := range res.Checks {
//		fmt.Println(c) // "PASS  BN's largest stable lr is larger: …"
//	}
//
// Every experiment trains its runs one after the other with experiments.Run into
// OUT/<run> (repeating the command keeps finished runs and resumes interrupted ones from
// their checkpoints), writes a comparison report with package compare into OUT/compare (plus the
// experiment's own figures under OUT/compare/figures) and evaluates its checks by reading the
// run directories back with compare.LoadRun. A check that fails is a result, not an error.
package reproduce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/results"
	"github.com/lwca/lwca/rundir"
)

// Options configure Run.
type Options struct {
	// Configs is the directory holding the experiments' base configs (configs/reproduce).
	Configs string
	// Out is the directory that receives the runs, the report and checks.md.
	Out string
	// Quick selects the small variant (a few minutes on two cores).
	Quick bool
	// Progress receives the runs' progress lines; nil is silent.
	Progress io.Writer
	// Verbose is passed on to the runs (a line per analysed layer).
	Verbose bool
	// Backend describes the numeric backend, for the runs' summary.json.
	Backend map[string]any
	// ReportOnly writes the report and checks from the runs that finished earlier and trains
	// nothing: a look at a long study before it ends (experiments whose checks allow it).
	ReportOnly bool
}

// Check is one expected direction of an effect, with the measured numbers.
type Check struct {
	Claim  string `json:"claim"`
	Values string `json:"values"`
	Pass   bool   `json:"pass"`
}

func (c Check) String() string {
	v := "FAIL"
	if c.Pass {
		v = "PASS"
	}
	return fmt.Sprintf("%s  %s: %s", v, c.Claim, c.Values)
}

// Result is a finished reproduction.
type Result struct {
	Name        string   `json:"name"`
	Quick       bool     `json:"quick"`
	Out         string   `json:"out"`
	Runs        []string `json:"runs"`              // run directories, in order
	Missing     []string `json:"missing,omitempty"` // runs not finished (ReportOnly)
	Checks      []Check  `json:"checks"`
	Tables      []string `json:"-"` // Markdown tables of the numbers behind the checks
	Figures     []string `json:"figures"`
	WallSeconds float64  `json:"wall_seconds"`
}

// Passed reports whether every check holds.
func (r *Result) Passed() bool {
	for _, c := range r.Checks {
		if !c.Pass {
			return false
		}
	}
	return len(r.Checks) > 0
}

// runSpec is one run of an experiment: a base config and its overrides.
type runSpec struct {
	label     string   // the run's directory under Out
	config    string   // file name under Options.Configs
	overrides []string // "a.b=value", applied in order
}

// experiment describes one finding.
type experiment struct {
	name  string
	title string
	runs  func(quick bool) []runSpec
	// check evaluates the finished runs (keyed by label) and may add figures.
	check func(quick bool, runs map[string]*compare.Run) (checks []Check, tables []string, figs []*compare.Figure)
	// compareOpts tunes the generic report.
	compareOpts func(quick bool) compare.Options
	// partial says that check copes with missing runs, so ReportOnly may report early.
	partial bool
}

var registry = []*experiment{stabilityExperiment(), conditioningExperiment(), falseMinimumExperiment(), lastLayerExperiment(),
	lastLayerAccuracyExperiment(), falseMinimumNaturalExperiment(), conditioningShapesExperiment(), curvStabilityExperiment()}

// Names lists the experiments Run accepts.
func Names() []string {
	var out []string
	for _, e := range registry {
		out = append(out, e.name)
	}
	return out
}

func lookup(name string) (*experiment, error) {
	for _, e := range registry {
		if e.name == name {
			return e, nil
		}
	}
	return nil, fmt.Errorf("reproduce: unknown experiment %q (expected one of %s)", name, strings.Join(Names(), ", "))
}

// Plan returns the run directories and overrides an experiment would use, without running it.
func Plan(name string, quick bool) ([]string, error) {
	e, err := lookup(name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range e.runs(quick) {
		out = append(out, fmt.Sprintf("%s\t%s\t%s", s.label, s.config, strings.Join(s.overrides, " ")))
	}
	return out, nil
}

// Run carries out the experiment name: its runs, the comparison report and the checks. It
// returns an error only when something could not be run or written; a run that diverges is
// data (the learning-rate study needs it).
func Run(ctx context.Context, name string, opts Options) (*Result, error) {
	e, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if opts.Out == "" {
		return nil, errors.New("reproduce: no output directory")
	}
	start := time.Now()
	res := &Result{Name: name, Quick: opts.Quick, Out: opts.Out}
	specs := e.runs(opts.Quick)
	var labels []string
	for _, s := range specs {
		cfgPath := filepath.Join(opts.Configs, s.config)
		cfg, err := config.Load(cfgPath, s.overrides)
		if err != nil {
			return nil, err
		}
		cfg.Name = name + ":" + s.label
		dir := filepath.Join(opts.Out, s.label)
		if opts.ReportOnly {
			if finished(cfg, dir) == nil {
				res.Missing = append(res.Missing, s.label)
				continue
			}
		} else {
			sum, err := train(ctx, cfg, dir, experiments.Options{Progress: opts.Progress, Backend: opts.Backend, Verbose: opts.Verbose})
			if err != nil {
				return nil, fmt.Errorf("reproduce %s: run %s: %w", name, s.label, err)
			}
			if sum.Status == experiments.StatusStopped {
				return nil, fmt.Errorf("reproduce %s: run %s: %w", name, s.label, context.Canceled)
			}
		}
		res.Runs, labels = append(res.Runs, dir), append(labels, s.label)
	}
	if len(res.Missing) > 0 && (!e.partial || len(res.Runs) == 0) {
		return nil, fmt.Errorf("reproduce %s: %d of %d runs have not finished (%s); the report needs %s", name, len(res.Missing),
			len(specs), strings.Join(res.Missing, ", "), map[bool]string{true: "at least one", false: "them all"}[e.partial])
	}
	runs := map[string]*compare.Run{}
	var list []*compare.Run
	for i, dir := range res.Runs {
		r, err := compare.LoadRun(dir)
		if err != nil {
			return nil, err
		}
		r.Label = labels[i]
		runs[r.Label] = r
		list = append(list, r)
	}
	copts := compare.Options{}
	if e.compareOpts != nil {
		copts = e.compareOpts(opts.Quick)
	}
	copts.Title = e.title
	rep, err := compare.Compare(list, copts)
	if err != nil {
		return nil, err
	}
	repDir := filepath.Join(opts.Out, "compare")
	if err := rep.Write(repDir); err != nil {
		return nil, err
	}
	checks, tables, figs := e.check(opts.Quick, runs)
	res.Checks, res.Tables = checks, tables
	for _, f := range figs {
		if f == nil || f.Empty() {
			continue
		}
		b, err := f.Render("png")
		if err != nil {
			return nil, err
		}
		p := filepath.Join(repDir, "figures", f.Name+".png")
		if err := results.WriteFile(p, b); err != nil {
			return nil, err
		}
		res.Figures = append(res.Figures, p)
	}
	res.WallSeconds = math.Round(time.Since(start).Seconds()*10) / 10
	if err := res.write(); err != nil {
		return nil, err
	}
	return res, nil
}

// write puts checks.md and checks.json beside the runs.
func (r *Result) write() error {
	var b strings.Builder
	variant := "full"
	if r.Quick {
		variant = "quick"
	}
	fmt.Fprintf(&b, "# %s (%s), %.0f s\n\n", r.Name, variant, r.WallSeconds)
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "- %s\n", c)
	}
	b.WriteString("\n")
	for _, t := range r.Tables {
		b.WriteString(t + "\n")
	}
	if len(r.Figures) > 0 {
		b.WriteString("Figures: " + strings.Join(r.Figures, ", ") + "\n")
	}
	if len(r.Missing) > 0 {
		b.WriteString("\nNot finished, so not in the checks above: " + strings.Join(r.Missing, ", ") + "\n")
	}
	if err := results.WriteFile(filepath.Join(r.Out, "checks.md"), []byte(b.String())); err != nil {
		return err
	}
	return results.WriteJSON(filepath.Join(r.Out, "checks.json"), r)
}

// FindConfigs returns dir/configs/reproduce for the first of start and its parents that has
// one, so that the command works from anywhere inside the repository.
func FindConfigs(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", err
	}
	for {
		c := filepath.Join(dir, "configs", "reproduce")
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("reproduce: no configs/reproduce in %s or its parents; pass --configs DIR", start)
		}
		dir = parent
	}
}

// ---- helpers shared by the checks ----

// valueAt returns key of the record of layer/factor at step exactly, NaN if none.
func valueAt(r *compare.Run, layer, factor, key string, step int) float64 {
	for _, rec := range r.Series(layer, factor) {
		if rec.Step == step {
			return rec.Value(key)
		}
	}
	return math.NaN()
}

// lastValue returns key of the last record of layer/factor, NaN if none.
func lastValue(r *compare.Run, layer, factor, key string) float64 {
	s := r.Series(layer, factor)
	if len(s) == 0 {
		return math.NaN()
	}
	return s[len(s)-1].Value(key)
}

// meanOver averages key over the records of layer/factor with lo ≤ step ≤ hi (finite values
// only); NaN if none.
func meanOver(r *compare.Run, layer, factor, key string, lo, hi int) float64 {
	sum, n := 0.0, 0
	for _, rec := range r.Series(layer, factor) {
		if v := rec.Value(key); rec.Step >= lo && rec.Step <= hi && !math.IsNaN(v) && !math.IsInf(v, 0) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// quarterLoss is lossMean over the q-th quarter (0–3) of a run's steps.
func quarterLoss(r *compare.Run, q int) float64 {
	n := r.LastStep() + 1
	return lossMean(r, q*n/4, (q+1)*n/4)
}

// smoothedLoss is a run's training loss as a series: the mean over the last w steps, every
// stride steps.
func smoothedLoss(r *compare.Run, s compare.Series, w, stride int) compare.Series {
	for j := w; j <= len(r.Train); j += stride {
		sum := 0.0
		for _, p := range r.Train[j-w : j] {
			sum += float64(p.Loss)
		}
		s.X, s.Y = append(s.X, float64(r.Train[j-1].Step)), append(s.Y, sum/float64(w))
	}
	return s
}

// lossMean averages the mini-batch losses of steps in [lo, hi); NaN if none, +Inf if any is
// not finite.
func lossMean(r *compare.Run, lo, hi int) float64 {
	sum, n := 0.0, 0
	for _, p := range r.Train {
		if p.Step >= lo && p.Step < hi {
			loss := float64(p.Loss)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return math.Inf(1)
			}
			sum += loss
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// finalLoss is the mean mini-batch loss over the last tenth of a run's steps (at least one
// step); +Inf for a run that diverged.
func finalLoss(r *compare.Run) float64 {
	if r.Summary.Status == rundir.StatusDiverged {
		return math.Inf(1)
	}
	n := r.LastStep() + 1
	return lossMean(r, n-max(n/10, 1), n)
}

func g3(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 1):
		return "+Inf"
	case v != 0 && (math.Abs(v) >= 1e4 || math.Abs(v) < 1e-3):
		return fmt.Sprintf("%.3g", v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", v), "0"), ".")
}

// mdTable formats a Markdown table.
func mdTable(title string, header []string, rows [][]string) string {
	var b strings.Builder
	if title != "" {
		b.WriteString("**" + title + "**\n\n")
	}
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}
