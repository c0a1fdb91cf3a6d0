package compare

import (
	"github.com/lwca/lwca/rundir"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot/font"
)

// normFixture is BN against plain at two learning rates, two seeds each: λmax of every
// factor is 10 under plain and 2 under BN, so every ratio plain/BN is 5.
func normFixture(t *testing.T) *Report {
	t.Helper()
	root := t.TempDir()
	val := func(s *spec, layer int, factor, key string, step int) float64 {
		if key == "lambda_max" {
			if s.norm == "batchnorm" {
				return 2
			}
			return 10
		}
		return baseVal(s, layer, factor, key, step)
	}
	var dirs []string
	for _, norm := range []string{"none", "batchnorm"} {
		for _, lr := range []float64{0.1, 1} {
			for seed := 1; seed <= 2; seed++ {
				s := &spec{name: norm + "-" + fmtNum(lr) + "-" + fmtNum(float64(seed)), seed: seed, norm: norm, lr: lr,
					layers: 2, every: 10, steps: 41, perEpoch: 20, val: val}
				dirs = append(dirs, s.write(t, root))
			}
		}
	}
	rep, err := Compare(loadAll(t, dirs...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestFiguresLabelBothAxes(t *testing.T) {
	rep := normFixture(t)
	for _, f := range rep.Figures {
		for _, p := range f.Panels {
			if p.XLabel == "" || p.YLabel == "" {
				t.Errorf("%s / %s: x label %q, y label %q", f.Name, p.Title, p.XLabel, p.YLabel)
			}
			// Panels of a layer figure are titled "<factor> <metric>"; the y axis names the metric.
			if strings.HasPrefix(f.Name, "layer_") && (p.XLabel != "step" || !strings.HasSuffix(p.Title, " "+p.YLabel) ||
				(p.YLabel != "λmax" && p.YLabel != "κ(p=0.5)")) {
				t.Errorf("%s / %s: labels %q, %q", f.Name, p.Title, p.XLabel, p.YLabel)
			}
		}
	}
	svg := renderSVG(t, rep, "layer_fc1")
	for _, want := range []string{">λmax<", ">κ(p=0.5)<", ">step<", ">Σ∇h λmax<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("layer figure SVG lacks %q", want)
		}
	}
}

func renderSVG(t *testing.T, rep *Report, name string) string {
	t.Helper()
	for _, f := range rep.Figures {
		if f.Name == name {
			b, err := f.Render("svg")
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
	t.Fatalf("no figure %s", name)
	return ""
}

// The figures and the text name the factors alike, and the figure font draws every
// character of the figures: a missing glyph would show as a box.
func TestFigureTextInFigureFont(t *testing.T) {
	rep := normFixture(t)
	if err := registerFont(); err != nil {
		t.Fatal(err)
	}
	// The face the figures are drawn with, as gonum/plot finds it.
	fnt := font.DefaultCache.Lookup(fontOf(10), 10).Face
	if fnt == nil {
		t.Fatal("figure font not found")
	}
	texts := []string{limitedLabel}
	for _, f := range rep.Figures {
		texts = append(texts, f.Title)
		for _, p := range f.Panels {
			texts = append(texts, p.Title, p.XLabel, p.YLabel)
			texts = append(texts, p.XTicks...)
		}
		for _, e := range f.Legend() {
			texts = append(texts, e.Label)
		}
	}
	all := strings.Join(texts, " ")
	if strings.Contains(all, "∂") || !strings.Contains(all, "Σ∇h") {
		t.Errorf("figures should name Σ∇h, as the text does: %q", all)
	}
	for _, r := range all {
		if i, err := fnt.GlyphIndex(nil, r); err != nil || i == 0 {
			t.Errorf("figure font has no glyph for %q", r)
		}
	}
	if svg := renderSVG(t, rep, "layer_fc1"); !strings.Contains(svg, "DejaVu") {
		t.Error("layer figure is not set in DejaVu Sans")
	}
}

func TestLinearTicks(t *testing.T) {
	labels := func(ts linearTicks, lo, hi float64) []string {
		var out []string
		for _, tk := range ts.Ticks(lo, hi) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return out
	}
	for _, c := range []struct {
		lt     linearTicks
		lo, hi float64
		want   []string
	}{
		{linearTicks{Min: 1}, 0, 500, []string{"0", "100", "200", "300", "400", "500"}},
		{linearTicks{Min: 1}, -6.25, 131, []string{"0", "50", "100"}},
		{linearTicks{Min: 1}, 0, 3, []string{"0", "1", "2", "3"}},
		{linearTicks{Min: 1}, 149, 151, []string{"149", "150", "151"}},
		{linearTicks{}, 0.955, 0.968, []string{"0.955", "0.960", "0.965"}},
		{linearTicks{}, 0, 1, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
	} {
		if got := labels(c.lt, c.lo, c.hi); !slices.Equal(got, c.want) {
			t.Errorf("ticks %+v on [%v, %v]: %q, want %q", c.lt, c.lo, c.hi, got, c.want)
		}
	}
	for _, tk := range (linearTicks{Min: 1}).Ticks(0, 7) {
		if tk.Value != math.Trunc(tk.Value) {
			t.Errorf("tick at %v on an axis of whole numbers", tk.Value)
		}
	}
}

func TestAxisRangesOfSinglePointsAndFlatSeries(t *testing.T) {
	// One end-of-epoch accuracy at step 467 of a 468-step run.
	acc := Panel{XLabel: "step", YLabel: "test accuracy", IntX: true, XMax: 468, YMax: 1,
		Series: []Series{{Label: "a", X: []float64{468}, Y: []float64{0.967}, Points: true}}}
	pl, err := acc.plot()
	if err != nil {
		t.Fatal(err)
	}
	if pl.X.Min != 0 || pl.X.Max < 468 || pl.X.Max > 480 {
		t.Errorf("x axis %v–%v, want 0 to just past 468", pl.X.Min, pl.X.Max)
	}
	if !(pl.Y.Min < 0.967 && pl.Y.Max > 0.967 && pl.Y.Max <= 1 && pl.Y.Max-pl.Y.Min < 0.2) {
		t.Errorf("accuracy axis %v–%v, want a narrow range around 0.967 within [0, 1]", pl.Y.Min, pl.Y.Max)
	}
	flat := Panel{XLabel: "step", YLabel: "y", IntX: true,
		Series: []Series{{Label: "a", X: []float64{150}, Y: []float64{2}}}}
	if pl, err = flat.plot(); err != nil {
		t.Fatal(err)
	}
	if !(pl.Y.Min < 2 && pl.Y.Max > 2 && pl.Y.Max-pl.Y.Min <= 0.21) || !(pl.X.Min < 150 && pl.X.Max > 150 && pl.X.Max-pl.X.Min < 20) {
		t.Errorf("single point at (150, 2): axes x %v–%v, y %v–%v", pl.X.Min, pl.X.Max, pl.Y.Min, pl.Y.Max)
	}

	// Both training panels span the whole of training.
	rep := normFixture(t)
	for _, f := range rep.Figures {
		if f.Name == "training" {
			if l, a := f.Panels[0], f.Panels[1]; l.XMax != 41 || a.XMax != 41 || a.YMax != 1 {
				t.Errorf("training panels: loss x to %v, accuracy x to %v and y to %v; want 41, 41, 1", l.XMax, a.XMax, a.YMax)
			}
		}
	}
}

func TestLineStyleMarksComparedSetting(t *testing.T) {
	rep := normFixture(t)
	if rep.StyleKey != "model.norm" || !slices.Equal(rep.StyleValues, []string{"none", "batchnorm"}) {
		t.Fatalf("style key %q %v, want model.norm [none batchnorm]", rep.StyleKey, rep.StyleValues)
	}
	var fig *Figure
	for _, f := range rep.Figures {
		if f.Name == "layer_fc1" {
			fig = f
		}
	}
	leg := fig.Legend()
	if len(leg) != 4 {
		t.Fatalf("legend %+v", leg)
	}
	for _, e := range leg {
		bn := strings.Contains(e.Label, "norm=batchnorm")
		if (e.Dash == 1) != bn {
			t.Errorf("%s: dash %d, want BN dashed and plain solid", e.Label, e.Dash)
		}
		if lr1 := strings.Contains(e.Label, "lr=1"); (e.Color == 1) != lr1 {
			t.Errorf("%s: color %d, want one color per learning rate", e.Label, e.Color)
		}
	}
	if lineStyle(0, 0).Dashes != nil || len(lineStyle(0, 1).Dashes) == 0 {
		t.Error("dash 0 should draw solid lines and dash 1 dashed ones")
	}
}

func TestSummaryPairsGroupsWithRatio(t *testing.T) {
	rep := normFixture(t)
	if len(rep.Pairs) != 2 {
		t.Fatalf("%d pairs, want 2 (one per learning rate)", len(rep.Pairs))
	}
	for _, p := range rep.Pairs {
		if !strings.Contains(p.A.Label, "norm=none") || !strings.Contains(p.B.Label, "norm=batchnorm") || !strings.HasPrefix(p.Context, "lr=") {
			t.Errorf("pair %q: A %s, B %s", p.Context, p.A.Label, p.B.Label)
		}
	}
	var sum *Table
	for _, tb := range rep.Tables {
		if tb.Name == "summary" {
			sum = tb
		}
	}
	if sum == nil || rep.Tables[0].Name != "groups" || rep.Tables[1].Name != "summary" {
		t.Fatal("the groups and summary tables should come first")
	}
	n := 0
	for _, r := range sum.Rows {
		if r[5].Text == "λmax" {
			n++
			if r[7].String() != "10 ± 0" || r[8].String() != "2 ± 0" || r[9].String() != "5" {
				t.Errorf("row %v: A %s, B %s, ratio %s; want 10 ± 0, 2 ± 0, 5", r[:7], r[7], r[8], r[9])
			}
		}
	}
	if want := 2 * 2 * 3 * len(rep.Targets); n != want {
		t.Errorf("%d λmax rows, want %d (pairs × layers × factors × targets)", n, want)
	}
	html, err := rep.HTML(nil)
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	if i, j := strings.Index(page, `id="summary"`), strings.Index(page, `id="runs"`); i < 0 || j < i {
		t.Error("the summary should come before the runs")
	}
	if !strings.Contains(page, "<strong>5×</strong><span class=\"sub\">10 / 2</span>") {
		t.Error("summary cells should read 5× over 10 / 2")
	}
}

// rankFixture has a plain run whose κ of Σx is an ordinary value, a +Inf, a round-off
// quotient and a value whose divisor lies past the numerical rank, by analysis step.
func rankFixture(t *testing.T) *Report {
	t.Helper()
	val := func(s *spec, layer int, factor, key string, step int) float64 {
		if factor == rundir.FactorX {
			switch key {
			case "kappa_p0.5":
				return map[int]float64{0: 50, 10: math.Inf(1), 20: 3e15, 30: 70}[step]
			case "numerical_rank": // dim 8: κ_0.5 divides by λ4
				return map[int]float64{0: 8, 10: 3, 20: 3, 30: 3}[step]
			}
		}
		return baseVal(s, layer, factor, key, step)
	}
	dir := (&spec{name: "r", seed: 1, layers: 1, every: 10, steps: 31, val: val}).write(t, t.TempDir())
	rep, err := Compare(loadAll(t, dir), Options{Targets: []int{0, 10, 20, 30}})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestRankLimited(t *testing.T) {
	rec := func(dim, rank, kappa float64) *rundir.ConditioningRecord {
		return &rundir.ConditioningRecord{Values: map[string]float64{"dim": dim, "numerical_rank": rank, "kappa_p0.5": kappa, "kappa": kappa, "lambda_max": kappa}}
	}
	for _, c := range []struct {
		rec  *rundir.ConditioningRecord
		key  string
		want bool
	}{
		{rec(256, 128, 400), "kappa_p0.5", false}, // λ128 is the 128th of 128 above tolerance
		{rec(256, 127, 400), "kappa_p0.5", true},  // λ128 is round-off
		{rec(256, 256, 400), "kappa", false},
		{rec(256, 255, 400), "kappa", true},
		{rec(256, 256, math.Inf(1)), "kappa_p0.5", true},
		{rec(256, 256, 1e17), "kappa_p0.5", true}, // ≥ 1/(d·ε) ≈ 1.8e13
		{&rundir.ConditioningRecord{Values: map[string]float64{"dim": 256, "kappa_p0.5": 1e14}}, "kappa_p0.5", true},
		{&rundir.ConditioningRecord{Values: map[string]float64{"dim": 256, "kappa_p0.5": 1e12}}, "kappa_p0.5", false},
		{rec(256, 1, 1e17), "lambda_max", false},
	} {
		if got := RankLimited(c.rec, c.key); got != c.want {
			t.Errorf("RankLimited(%v, %s) = %v, want %v", c.rec.Values, c.key, got, c.want)
		}
	}

	rep := rankFixture(t)
	var tb *Table
	for _, x := range rep.Tables {
		if x.Name == "fc1_x" {
			tb = x
		}
	}
	var got []string
	for j, c := range tb.Columns {
		if strings.HasPrefix(c.Key, "kappa_p0.5@") {
			got = append(got, tb.Rows[0][j].String())
		}
	}
	if want := []string{"50", rankLimitedText, rankLimitedText, rankLimitedText}; !slices.Equal(got, want) {
		t.Errorf("κ cells %q, want %q", got, want)
	}
	if csv := string(tb.CSV()); strings.Count(csv, rankLimitedText) != 3 || strings.Contains(csv, "3e+15") {
		t.Errorf("CSV should write rank-limited, not the quotient:\n%s", csv)
	}
	for _, f := range rep.Figures {
		if f.Name != "layer_fc1" {
			continue
		}
		s := f.Panels[1].Series[0] // Σx κ
		if !slices.Equal(s.Limited, []float64{10, 20, 30}) || s.Y[0] != 50 || !math.IsNaN(s.Y[2]) {
			t.Errorf("Σx κ series: Y %v, limited at %v; want 50 drawn and steps 10–30 marked", s.Y, s.Limited)
		}
		if !strings.Contains(f.Caption, "rank-limited") {
			t.Error("caption does not explain the rank-limited mark")
		}
		if _, err := f.Render("png"); err != nil {
			t.Error(err)
		}
	}
}

func TestUnrecordedPWarns(t *testing.T) {
	_, dirs := groupFixture(t, t.TempDir())
	rep, err := Compare(loadAll(t, dirs...), Options{P: 0.7})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "p = 0.7") || !strings.Contains(rep.Warnings[0], "p = 0.5, 1") {
		t.Fatalf("warnings %q, want one naming p = 0.7 and the recorded p = 0.5, 1", rep.Warnings)
	}
	html, err := rep.HTML(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), `class="warn"`) || !strings.Contains(string(html), "p = 0.7") {
		t.Error("the report does not show the warning")
	}
	if rep, err = Compare(loadAll(t, dirs...), Options{P: 0.5}); err != nil || len(rep.Warnings) != 0 {
		t.Errorf("p = 0.5 is recorded: warnings %q", rep.Warnings)
	}
}

func TestDiagnosticsFoldedPerRun(t *testing.T) {
	hot := func(s *spec, layer int, factor, key string, step int) float64 {
		if key == "stability_ratio" {
			return 2 + float64(layer)
		}
		return baseVal(s, layer, factor, key, step)
	}
	dir := (&spec{name: "hot", seed: 1, layers: 3, every: 10, steps: 31, val: hot}).write(t, t.TempDir())
	rep, err := Compare(loadAll(t, dir), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 3 {
		t.Fatalf("%d findings, want one per layer", len(rep.Findings))
	}
	h := rep.foldedFindings(DiagStability)
	if len(h.Rows) != 1 {
		t.Fatalf("%d rows, want one for the run", len(h.Rows))
	}
	row := h.Rows[0]
	if row[1].Text != "3: fc1, fc2, fc3" || !strings.HasPrefix(row[3].Text, "fc3 (largest ratio): ") || len(row[3].Details) != 3 {
		t.Errorf("row %+v: want 3 layers counted, the worst (fc3) first, every layer beneath", row)
	}
}

func TestReportHTMLHasContentsAndFitsThePage(t *testing.T) {
	rep := normFixture(t)
	html, err := rep.HTML(nil)
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	if !strings.Contains(page, `<nav class="toc">`) {
		t.Error("no table of contents")
	}
	for _, m := range regexp.MustCompile(`href="#([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if !strings.Contains(page, `id="`+m[1]+`"`) {
			t.Errorf("contents link #%s leads nowhere", m[1])
		}
	}
	for _, l := range rep.Layers {
		if !strings.Contains(page, `<details id="tables-`+l+`">`) {
			t.Errorf("tables of %s are not collapsible", l)
		}
	}
	if n, m := strings.Count(page, "<table"), strings.Count(page, `<div class="scroll"><table`); n != m {
		t.Errorf("%d of %d tables outside a scroll container", n-m, n)
	}
	// Long directories are listed beneath the runs table, not in a column of it.
	if strings.Contains(page, "<th>directory</th>") || !strings.Contains(page, rep.Runs[0].Dir) {
		t.Error("run directories should be listed beneath the runs table")
	}
	// The layer tables leave the groups' outcome to the groups table.
	i := strings.Index(page, `id="tables"`)
	if strings.Contains(page[i:], "final test accuracy") {
		t.Error("layer tables repeat the final figures")
	}
}

// Rank-limited marks sit in a band above the values, which has no ticks: its height is no
// value.
func TestRankLimitedBandAboveValues(t *testing.T) {
	p := Panel{XLabel: "step", YLabel: "κ", LogY: true, IntX: true, Series: []Series{
		{Label: "plain", X: []float64{0, 10, 20}, Y: []float64{50, 500, math.NaN()}, Limited: []float64{20}},
		{Label: "bn", Dash: 1, X: []float64{0, 10, 20}, Y: []float64{math.NaN(), math.NaN(), math.NaN()}, Limited: []float64{0, 10, 20}},
	}}
	pl, err := p.plot()
	if err != nil {
		t.Fatal(err)
	}
	if pl.Y.Min != 10 || !(pl.Y.Max > 1000) {
		t.Fatalf("y axis %v–%v, want the values' decades 10–1000 and a band above", pl.Y.Min, pl.Y.Max)
	}
	for _, tk := range pl.Y.Tick.Marker.Ticks(pl.Y.Min, pl.Y.Max) {
		if tk.Value > 1000 {
			t.Errorf("tick %v (%q) in the band of marks", tk.Value, tk.Label)
		}
	}
	if _, err := (&Figure{Name: "band", Width: 4, Height: 3, Panels: []Panel{p}}).Render("svg"); err != nil {
		t.Error(err)
	}
}

func TestSplitHead(t *testing.T) {
	top, bottom := splitHead([]string{"group", "n", "λmax@0", "λmax@500", "κ(p=0.5)@0", "κ(p=0.5)@500", "status"})
	want := []headCell{{"group", 1, 2}, {"n", 1, 2}, {"λmax", 2, 1}, {"κ(p=0.5)", 2, 1}, {"status", 1, 2}}
	if !slices.Equal(top, want) || !slices.Equal(bottom, []string{"0", "500", "0", "500"}) {
		t.Errorf("top %v, bottom %q", top, bottom)
	}
	if top, bottom := splitHead([]string{"run", "status"}); top != nil || bottom != nil {
		t.Errorf("headings without targets split into %v / %q", top, bottom)
	}
}
