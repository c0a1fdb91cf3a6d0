package compare

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/results"
	"github.com/lwca/lwca/rundir"
)

// Spread says how a group's band is drawn in figures.
type Spread int

const (
	SpreadMinMax Spread = iota // the band spans the smallest to the largest member value
	SpreadStd                  // the band spans mean ± one sample standard deviation
)

// Options configure a comparison. The zero value is ready to use.
type Options struct {
	// Align puts runs side by side by step (default) or by end of epoch.
	Align Alignment
	// Targets are the steps (or epochs) the tables show; nil chooses up to MaxTargets
	// (default 5) with Alignment.Targets.
	Targets    []int
	MaxTargets int
	// P selects κ_p, the record key "kappa_p<P>" (default 0.5).
	P float64
	// DepthAt are the targets of depth-profile figures; nil means the last target.
	DepthAt []int
	// SpectraAt are the targets of spectrum figures; nil means the first and last targets.
	SpectraAt []int
	// Spread draws group bands as min–max (default) or mean ± std.
	Spread Spread
	// Smooth is the trailing window, in steps, of the mean that smooths training-loss curves;
	// 0 chooses about 1/200 of the longest run, 1 draws raw mini-batch losses.
	Smooth int
	// Thresholds tune the diagnostics.
	Thresholds Thresholds
	// Title heads the report; default "lwca comparison".
	Title string
}

// Report is a finished comparison: everything Write puts on disk.
type Report struct {
	Title    string
	Options  Options
	Runs     []*Run
	Groups   []*Group
	Layers   []string
	Targets  []int
	KappaKey string

	Diff   []string          // config keys that differ between runs (seed and name aside)
	Shared map[string]string // the settings every run shares
	Tables []*Table
	// Figures in report order; figures without data are left out, with a note.
	Figures  []*Figure
	Findings []Finding
	Notes    []string
	// Warnings are notes a reader must not miss: they head the report and go to stderr.
	Warnings []string

	// StyleKey is the compared setting that line styles mark (model.norm when it differs),
	// StyleValues its values in group order; "" when the groups differ in no setting.
	StyleKey    string
	StyleValues []string
	// Pairs are the groups the summary puts side by side: same settings but StyleKey.
	Pairs []Pair
	style map[*Group]lineID
}

// metricNames are the people's names of record keys.
func metricName(key string) string {
	switch {
	case key == "lambda_max":
		return "λmax"
	case strings.HasPrefix(key, "kappa_p"):
		return "κ(p=" + strings.TrimPrefix(key, "kappa_p") + ")"
	}
	return key
}

func factorName(f string) string {
	switch f {
	case rundir.FactorX:
		return "Σx"
	case rundir.FactorGrad:
		return "Σ∇h"
	case rundir.FactorFisher:
		return "F"
	}
	return f
}

// Compare builds the comparison of runs.
func Compare(runs []*Run, opts Options) (*Report, error) {
	if len(runs) == 0 {
		return nil, errors.New("compare: no runs")
	}
	if opts.P == 0 {
		opts.P = 0.5
	}
	if !(opts.P > 0 && opts.P <= 1) {
		return nil, fmt.Errorf("compare: p = %v: expected a fraction in (0, 1]", opts.P)
	}
	if opts.MaxTargets == 0 {
		opts.MaxTargets = 5
	}
	opts.Thresholds = opts.Thresholds.withDefaults()
	rep := &Report{Title: opts.Title, Options: opts, Runs: runs, KappaKey: analysis.PKey("kappa_p", opts.P)}
	if rep.Title == "" {
		rep.Title = "lwca comparison"
	}
	rep.Groups = GroupRuns(runs)
	for _, r := range runs {
		for _, l := range r.Layers() {
			if !slices.Contains(rep.Layers, l) {
				rep.Layers = append(rep.Layers, l)
			}
		}
	}
	rep.Targets = opts.Targets
	if rep.Targets == nil {
		rep.Targets = opts.Align.Targets(runs, opts.MaxTargets)
	}
	rep.Diff = ConfigDiff(runs, NameKey)
	_, rep.Shared = SharedConfig(runs, NameKey)
	rep.setStyles()
	rep.checkKappaKey()
	rep.Pairs = rep.pairs()

	rep.Tables = append(rep.Tables, rep.groupsTable(), rep.summaryTable(), rep.runsTable())
	if len(rep.Diff) > 0 {
		rep.Tables = append(rep.Tables, rep.diffTable())
	}
	for _, l := range rep.Layers {
		for _, f := range rundir.Factors {
			rep.Tables = append(rep.Tables, rep.layerTable(l, f))
		}
	}
	rep.Findings = Diagnose(runs, rep.KappaKey, opts.Thresholds)
	rep.Tables = append(rep.Tables, rep.findingsTable())

	rep.addFigure(rep.trainingFigure())
	for _, l := range rep.Layers {
		rep.addFigure(rep.layerFigure(l))
	}
	depthAt := opts.DepthAt
	if depthAt == nil && len(rep.Targets) > 0 {
		depthAt = rep.Targets[len(rep.Targets)-1:]
	}
	for _, t := range depthAt {
		rep.addFigure(rep.depthFigure(t))
	}
	spectraAt := opts.SpectraAt
	if spectraAt == nil && len(rep.Targets) > 0 {
		spectraAt = []int{rep.Targets[0]}
		if last := rep.Targets[len(rep.Targets)-1]; last != spectraAt[0] {
			spectraAt = append(spectraAt, last)
		}
	}
	for _, f := range []string{rundir.FactorX, rundir.FactorGrad} {
		fig, err := rep.spectraFigure(f, spectraAt)
		if err != nil {
			return nil, err
		}
		rep.addFigure(fig)
	}
	rep.addCurvature()
	return rep, nil
}

func (rep *Report) addFigure(f *Figure) {
	if f == nil {
		return
	}
	if f.Empty() {
		rep.Notes = append(rep.Notes, fmt.Sprintf("figure %q left out: no values to draw", f.Title))
		return
	}
	rep.Figures = append(rep.Figures, f)
}

// final returns a run's last end-of-epoch figures: training loss (the epoch's mean mini-batch
// loss) and test accuracy; NaN when it finished no epoch.
func final(r *Run) (loss, acc float64) {
	if n := len(r.Test); n > 0 {
		return float64(r.Test[n-1].TrainLoss), r.Test[n-1].TestAccuracy
	}
	return math.NaN(), math.NaN()
}

// groupStatus summarises the members' statuses: "completed", "diverged at step 120",
// "1 completed, 1 diverged (step 120)".
func groupStatus(g *Group) string {
	if len(g.Runs) == 1 {
		return g.Runs[0].StatusText()
	}
	var order []string
	count := map[string]int{}
	steps := map[string][]string{}
	for _, r := range g.Runs {
		s := r.Summary.Status
		if s == "" {
			s = "unknown"
		}
		if count[s] == 0 {
			order = append(order, s)
		}
		count[s]++
		if r.Summary.DivergedAtStep != nil {
			steps[s] = append(steps[s], strconv.Itoa(*r.Summary.DivergedAtStep))
		}
	}
	var parts []string
	for _, s := range order {
		p := fmt.Sprintf("%d %s", count[s], s)
		if len(steps[s]) == 1 {
			p += " (step " + steps[s][0] + ")"
		} else if len(steps[s]) > 1 {
			p += " (steps " + strings.Join(steps[s], ", ") + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

func (rep *Report) groupOf(r *Run) *Group {
	for _, g := range rep.Groups {
		if slices.Contains(g.Runs, r) {
			return g
		}
	}
	return nil
}

func (rep *Report) runsTable() *Table {
	t := &Table{Name: "runs", Title: "Runs",
		Note: "Final figures are those of the last finished epoch: mean mini-batch training loss and test accuracy.",
		Columns: []Column{{"run", "run"}, {"group", "group"}, {"seed", "seed"}, {"status", "status"},
			{"diverged at step", "diverged_at_step"}, {"steps", "steps"}, {"final train loss", "final_train_loss"},
			{"final test accuracy", "final_test_accuracy"}, {"best test accuracy", "best_test_accuracy"},
			{"wall s", "wall_seconds"}, {"directory", "dir"}}}
	for _, r := range rep.Runs {
		loss, acc := final(r)
		div := math.NaN()
		if r.Summary.DivergedAtStep != nil {
			div = float64(*r.Summary.DivergedAtStep)
		}
		t.Rows = append(t.Rows, []Cell{TextCell(r.Label), TextCell(rep.groupOf(r).Label), TextCell(r.Config[SeedKey]),
			TextCell(r.StatusText()), NumCell(div), NumCell(float64(r.LastStep() + 1)), NumCell(loss), NumCell(acc),
			NumCell(float64(r.Summary.BestTest)), NumCell(r.Summary.WallSeconds), TextCell(r.Dir)})
	}
	return t
}

func (rep *Report) diffTable() *Table {
	t := &Table{Name: "config_diff", Title: "Config differences",
		Note:    "Keys of config.yaml (flattened to dotted paths) whose values differ between runs; name aside.",
		Columns: []Column{{"run", "run"}}}
	for _, k := range rep.Diff {
		t.Columns = append(t.Columns, Column{k, k})
	}
	for _, r := range rep.Runs {
		row := []Cell{TextCell(r.Label)}
		for _, k := range rep.Diff {
			v, ok := r.Config[k]
			if !ok {
				v = "(absent)"
			}
			row = append(row, TextCell(v))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func (rep *Report) layerTable(layer, factor string) *Table {
	a := rep.Options.Align
	t := &Table{Name: sanitize(layer) + "_" + factor,
		Title: fmt.Sprintf("%s %s", layer, factorName(factor)),
		Note: fmt.Sprintf("Values at %s %s (a run's latest analysis at or before it); groups of seeds: mean ± sample std.",
			a, joinInts(rep.Targets)),
		Columns: []Column{{"group", "group"}, {"n", "n"}}}
	keys := []string{"lambda_max", rep.KappaKey}
	for _, k := range keys {
		for _, tg := range rep.Targets {
			t.Columns = append(t.Columns, Column{metricName(k) + "@" + a.Tag(tg), k + "@" + a.Tag(tg)})
		}
	}
	t.Columns = append(t.Columns, Column{"final train loss", "final_train_loss"},
		Column{"final test accuracy", "final_test_accuracy"}, Column{"status", "status"})
	for _, g := range rep.Groups {
		row := []Cell{TextCell(g.Label), TextCell(strconv.Itoa(len(g.Runs)))}
		for _, k := range keys {
			for _, tg := range rep.Targets {
				row = append(row, rep.groupCell(g, layer, factor, k, tg))
			}
		}
		var losses, accs []float64
		for _, r := range g.Runs {
			l, ac := final(r)
			losses, accs = append(losses, l), append(accs, ac)
		}
		row = append(row, StatCell(losses), StatCell(accs), TextCell(groupStatus(g)))
		t.Rows = append(t.Rows, row)
	}
	return t
}

func (rep *Report) findingsTable() *Table {
	t := &Table{Name: "diagnostics", Title: "Diagnostics",
		Columns: []Column{{"diagnostic", "diagnostic"}, {"run", "run"}, {"layer", "layer"}, {"step", "step"},
			{"finding", "message"}, {"numbers", "numbers"}}}
	for _, f := range rep.Findings {
		var nums []string
		for _, n := range f.Numbers {
			nums = append(nums, n.Name+"="+csvNum(n.Value))
		}
		t.Rows = append(t.Rows, []Cell{TextCell(f.Diagnostic), TextCell(f.Run), TextCell(f.Layer),
			NumCell(float64(f.Step)), TextCell(f.Message), TextCell(strings.Join(nums, " "))})
	}
	return t
}

// AlignedCSV returns every run's aligned values in long form, one line per run, layer,
// factor, metric and target: the numbers behind the layer tables, for other tools.
func (rep *Report) AlignedCSV() []byte {
	t := &Table{Columns: []Column{{"", "group"}, {"", "run"}, {"", "layer"}, {"", "factor"}, {"", "metric"},
		{"", rep.Options.Align.String()}, {"", "record_step"}, {"", "value"}, {"", "rank_limited"}}}
	a := rep.Options.Align
	for _, g := range rep.Groups {
		for _, r := range g.Runs {
			for _, l := range rep.Layers {
				for _, f := range rundir.Factors {
					for _, k := range []string{"lambda_max", rep.KappaKey} {
						for _, tg := range rep.Targets {
							rec := a.At(r, l, f, tg)
							step, v, limited := "", math.NaN(), ""
							if rec != nil {
								step, v = strconv.Itoa(rec.Step), rec.Value(k)
								limited = strconv.FormatBool(RankLimited(rec, k))
							}
							t.Rows = append(t.Rows, []Cell{TextCell(g.Label), TextCell(r.Label), TextCell(l), TextCell(f),
								TextCell(k), TextCell(strconv.Itoa(tg)), TextCell(step), TextCell(csvNum(v)), TextCell(limited)})
						}
					}
				}
			}
		}
	}
	return t.CSV()
}

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, strconv.Itoa(x))
	}
	return strings.Join(s, ", ")
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._=,+-]+`)

// sanitize makes s safe as a file name component.
func sanitize(s string) string {
	s = unsafeName.ReplaceAllString(s, "_")
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return s
}

// Write puts the report under dir: report.html (self-contained), tables.md, tables/*.csv
// and figures/*.png and *.svg. It creates dir as needed and replaces earlier files.
func (rep *Report) Write(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, "tables"), filepath.Join(dir, "figures")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("compare: %w", err)
		}
	}
	var md strings.Builder
	md.WriteString("# " + rep.Title + "\n\n")
	for _, t := range rep.Tables {
		md.WriteString(t.Markdown() + "\n")
		if err := results.WriteFile(filepath.Join(dir, "tables", t.Name+".csv"), t.CSV()); err != nil {
			return err
		}
	}
	if err := results.WriteFile(filepath.Join(dir, "tables", "aligned.csv"), rep.AlignedCSV()); err != nil {
		return err
	}
	if err := results.WriteFile(filepath.Join(dir, "tables.md"), []byte(md.String())); err != nil {
		return err
	}
	pngs := map[string][]byte{}
	for _, f := range rep.Figures {
		for _, format := range []string{"png", "svg"} {
			b, err := f.Render(format)
			if err != nil {
				return err
			}
			if format == "png" {
				pngs[f.Name] = b
			}
			if err := results.WriteFile(filepath.Join(dir, "figures", f.Name+"."+format), b); err != nil {
				return err
			}
		}
	}
	html, err := rep.HTML(pngs)
	if err != nil {
		return err
	}
	return results.WriteFile(filepath.Join(dir, "report.html"), html)
}
