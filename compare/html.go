package compare

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"github.com/lwca/lwca/rundir"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
)

// diagnosticText explains each diagnostic in the report, with the thresholds in force.
func (rep *Report) diagnosticText() []struct{ Name, Text string } {
	th := rep.Options.Thresholds
	return []struct{ Name, Text string }{
		{DiagStability, fmt.Sprintf("Layers whose stability ratio η·λmax(F)/(2(1+μ)) (fisher record key stability_ratio) exceeds %s at some analysis step: "+
			"heavy-ball gradient descent on the layer's quadratic model is unstable along its sharpest direction.", fmtNum(th.Stability))},
		{DiagFalseMinimum, fmt.Sprintf("BatchNorm runs that did not diverge, over their last %d analysis steps s₁…s_W (start: first two, end: last two): "+
			"the mean mini-batch loss changes by at most %s×its start value and ends at or above %s, while a layer's mean grad_norm at the end is ≤ %s× its start value "+
			"and its mean weight_norm ≥ %s× its start value. Under BN, λmax(F) ∝ 1/‖W‖²: a growing weight norm shrinks gradients and curvature and the loss stalls "+
			"although the normalised weights are not stationary.", th.Window, fmtNum(th.LossFlat), fmtNum(th.LossFloor), fmtNum(th.GradFall), fmtNum(th.WeightGrowth))},
		{DiagLastLayer, fmt.Sprintf("At a run's last analysis step, %s or λmax of the last layer's Σx exceeds %s× the median of the same metric over the other layers.",
			metricName(rep.KappaKey), fmtNum(th.LastLayer))},
	}
}

type htmlTable struct {
	ID, Title, Note string
	Head            []string
	// Top and Bottom, when set, replace Head by two header rows: "λmax" over the steps
	// "0 250 500" rather than "λmax@0 λmax@250 λmax@500", which keeps columns narrow.
	Top    []headCell
	Bottom []string
	Rows   [][]htmlCell
}

type headCell struct {
	Title      string
	Span, Rows int
}

// splitHead turns headings "metric@target" into a metric spanning its targets; headings
// without "@" span both rows. It returns nil when no heading has a target.
func splitHead(head []string) ([]headCell, []string) {
	var top []headCell
	var bottom []string
	for _, h := range head {
		metric, target, ok := strings.Cut(h, "@")
		switch {
		case !ok:
			top = append(top, headCell{h, 1, 2})
		case len(top) > 0 && top[len(top)-1].Rows == 1 && top[len(top)-1].Title == metric:
			top[len(top)-1].Span++
			bottom = append(bottom, target)
		default:
			top = append(top, headCell{metric, 1, 1})
			bottom = append(bottom, target)
		}
	}
	if bottom == nil {
		return nil, nil
	}
	return top, bottom
}

type htmlCell struct {
	Text string
	Num  bool
	// Sub, when set, is a second line in small type (the two values behind a ratio);
	// Details, a collapsed list (the layers behind a folded diagnostic).
	Sub     string
	Strong  bool // the cell's headline: a ratio of the summary
	Details []string
	Head    bool // starts a block of rows (a layer in the summary)
}

func toHTML(t *Table) htmlTable {
	h := htmlTable{ID: "table-" + sanitize(t.Name), Title: t.Title, Note: t.Note}
	for _, c := range t.Columns {
		h.Head = append(h.Head, c.Title)
	}
	h.Top, h.Bottom = splitHead(h.Head)
	for _, r := range t.Rows {
		var row []htmlCell
		for _, c := range r {
			row = append(row, htmlOf(c))
		}
		h.Rows = append(h.Rows, row)
	}
	return h
}

// htmlOf renders a cell for the page: a group's mean, with the spread (two digits) and
// any rank-limited members on a second line in small type, so that columns stay narrow
// enough for a table to fit the page.
func htmlOf(c Cell) htmlCell {
	if c.Stat == nil {
		return htmlCell{Text: c.Text}
	}
	h := htmlCell{Text: shortCell(c), Num: true}
	var sub []string
	if c.Stat.N > 1 && !math.IsNaN(c.Stat.Std) {
		sub = append(sub, "± "+strconv.FormatFloat(c.Stat.Std, 'g', 2, 64))
	}
	if c.Limited > 0 && c.Stat.N > 0 {
		sub = append(sub, fmt.Sprintf("+%d %s", c.Limited, rankLimitedText))
	}
	h.Sub = strings.Join(sub, ", ")
	return h
}

// dropColumns returns t without the columns whose keys are listed.
func dropColumns(t *Table, keys ...string) *Table {
	out := *t
	out.Columns, out.Rows = nil, nil
	var keep []int
	for j, c := range t.Columns {
		if !slices.Contains(keys, c.Key) {
			keep = append(keep, j)
			out.Columns = append(out.Columns, c)
		}
	}
	for _, r := range t.Rows {
		var row []Cell
		for _, j := range keep {
			if j < len(r) {
				row = append(row, r[j])
			}
		}
		out.Rows = append(out.Rows, row)
	}
	return &out
}

type htmlFigure struct {
	ID, Title, Caption, SVG string
	Img                     template.URL
}

// htmlPair is one comparison of the summary: a row per layer, factor and metric, a column
// per target, each cell the ratio A/B over the two group means.
type htmlPair struct {
	ID, Title, A, B string
	Table           htmlTable
}

type htmlLayer struct {
	ID, Layer string
	Tables    []htmlTable
}

// htmlFolded is a table shown collapsed under its title.
type htmlFolded struct {
	ID, Title string
	Table     htmlTable
}

func folded(t *Table) htmlFolded {
	h := toHTML(t)
	f := htmlFolded{ID: h.ID, Title: h.Title, Table: h}
	f.Table.ID, f.Table.Title = "", "" // the summary line names it
	return f
}

type tocEntry struct {
	ID, Title string
	Sub       []tocEntry
}

// fmtRatio prints a ratio with three significant digits: "4.61×".
func fmtRatio(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	if math.IsInf(v, 0) {
		return fmtNum(v)
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + "×"
}

func (rep *Report) htmlPair(i int, p Pair) htmlPair {
	a := rep.Options.Align
	h := htmlPair{ID: fmt.Sprintf("pair-%d", i+1), Title: p.Title(rep), A: p.A.Label, B: p.B.Label}
	h.Table.Head = []string{"layer", "factor", "metric"}
	for _, t := range rep.Targets {
		h.Table.Head = append(h.Table.Head, a.Name(t))
	}
	for _, l := range rep.Layers {
		for fi, f := range rundir.Factors {
			for ki, k := range rep.summaryMetrics() {
				first := fi == 0 && ki == 0
				layer := ""
				if first { // the layer heads its block of rows
					layer = l
				}
				row := []htmlCell{{Text: layer, Head: first}, {Text: factorName(f)}, {Text: metricName(k)}}
				for _, t := range rep.Targets {
					ca, cb := rep.groupCell(p.A, l, f, k, t), rep.groupCell(p.B, l, f, k, t)
					c := htmlCell{Num: true, Strong: true, Text: fmtRatio(ratioCell(ca, cb).Stat.Mean), Sub: shortCell(ca) + " / " + shortCell(cb)}
					switch {
					case ca.Stat.N == 0 && cb.Stat.N == 0 && ca.Limited > 0 && cb.Limited > 0:
						c.Text, c.Sub, c.Strong = rankLimitedText, "", false
					case ca.Stat.N == 0 && cb.Stat.N == 0:
						c.Text, c.Sub, c.Strong = "–", "", false
					}
					row = append(row, c)
				}
				h.Table.Rows = append(h.Table.Rows, row)
			}
		}
	}
	return h
}

// shortCell is a group's mean alone, for the summary's small print.
func shortCell(c Cell) string {
	switch {
	case c.Stat == nil:
		return c.Text
	case c.Stat.N == 0 && c.Limited > 0:
		return rankLimitedText
	case c.Stat.N == 0:
		return "–"
	}
	return fmtNum(c.Stat.Mean)
}

// foldedFindings lists the findings of one diagnostic one row per run: the layers it fired
// in, with a count, the earliest step, the finding with the largest ratio (else the first),
// and every layer's message collapsed beneath. Runs that show the same thing in every layer
// take one row, not one per layer.
func (rep *Report) foldedFindings(diag string) htmlTable {
	h := htmlTable{Head: []string{"run", "layers", "first step", "finding"}}
	var order []string
	byRun := map[string][]Finding{}
	for _, f := range rep.Findings {
		if f.Diagnostic != diag {
			continue
		}
		if byRun[f.Run] == nil {
			order = append(order, f.Run)
		}
		byRun[f.Run] = append(byRun[f.Run], f)
	}
	for _, run := range order {
		fs := byRun[run]
		var layers, details []string
		step, worst := fs[0].Step, fs[0]
		for _, f := range fs {
			layers = append(layers, f.Layer)
			step = min(step, f.Step)
			details = append(details, f.Layer+": "+f.Message)
			if number(f, "max_ratio") > number(worst, "max_ratio") {
				worst = f
			}
		}
		msg := worst.Message
		switch {
		case len(fs) == 1:
			details = nil
		case math.IsNaN(number(worst, "max_ratio")):
			msg = worst.Layer + ": " + msg
		default:
			msg = worst.Layer + " (largest ratio): " + msg
		}
		h.Rows = append(h.Rows, []htmlCell{{Text: run}, {Text: fmt.Sprintf("%d: %s", len(fs), strings.Join(layers, ", "))},
			{Text: strconv.Itoa(step), Num: true}, {Text: msg, Details: details}})
	}
	return h
}

// number returns the finding's number of that name, NaN if it has none.
func number(f Finding, name string) float64 {
	for _, n := range f.Numbers {
		if n.Name == name {
			return n.Value
		}
	}
	return math.NaN()
}

// styleText says how figures tell the groups apart.
func (rep *Report) styleText() string {
	if rep.StyleKey == "" || len(rep.StyleValues) < 2 {
		return "Each group has its own color."
	}
	var parts []string
	for i, v := range rep.StyleValues {
		parts = append(parts, dashName(i)+" "+v)
	}
	s := "Line style marks " + rep.StyleKey + ": " + strings.Join(parts, ", ") + "."
	if len(rep.Pairs) > 0 && rep.Pairs[0].Context != "" {
		s += " Color marks the other settings, so the groups of one comparison share a color."
	}
	return s
}

func dashName(i int) string {
	return []string{"solid", "dashed", "dotted", "dash-dotted"}[i%len(dashes)]
}

// HTML renders the report as one self-contained page: figures are embedded as base64 PNG
// from pngs (figure name → PNG bytes), so the page needs no other file and no server.
func (rep *Report) HTML(pngs map[string][]byte) ([]byte, error) {
	type diag struct {
		ID, Name, Text string
		Findings       htmlTable
	}
	data := struct {
		Title          string
		Runs, Groups   int
		Align, Targets string
		KappaName      string
		Warnings       []string
		Notes          []string
		TOC            []tocEntry
		GroupsTable    htmlTable
		StyleText      string
		Pairs          []htmlPair
		RunsTable      htmlTable
		RunDirs        [][2]string
		Diff           *htmlTable
		Shared         [][2]string
		Diagnostics    []diag
		Figures        []htmlFigure
		Layers         []htmlLayer
		CurvSummary    *htmlTable
		CurvTables     []htmlFolded // per layer, then the whole network
	}{Title: rep.Title, Runs: len(rep.Runs), Groups: len(rep.Groups), Align: rep.Options.Align.String(),
		Targets: joinInts(rep.Targets), KappaName: metricName(rep.KappaKey), Warnings: rep.Warnings, Notes: rep.Notes,
		StyleText: rep.styleText()}
	for _, t := range rep.Tables {
		switch t.Name {
		case "runs":
			// The status says where a run diverged, and directories are long: listed
			// beneath, the table fits the page.
			data.RunsTable = toHTML(dropColumns(t, "diverged_at_step", "dir"))
			data.RunsTable.Title = "" // the section heading names it
			for _, r := range rep.Runs {
				data.RunDirs = append(data.RunDirs, [2]string{r.Label, r.Dir})
			}
		case "groups":
			data.GroupsTable = toHTML(t)
		case "config_diff":
			h := toHTML(t)
			h.Title = ""
			data.Diff = &h
		case "curvature_stability":
			h := toHTML(t)
			data.CurvSummary = &h
		case "diagnostics", "summary":
		}
	}
	for _, t := range rep.Tables {
		if t.Name == "network_curvature" || slices.ContainsFunc(rep.Layers, func(l string) bool { return t.Name == sanitize(l)+"_"+rundir.FactorCurvature }) {
			data.CurvTables = append(data.CurvTables, folded(t))
		}
	}
	for i, p := range rep.Pairs {
		data.Pairs = append(data.Pairs, rep.htmlPair(i, p))
	}
	for _, l := range rep.Layers {
		hl := htmlLayer{ID: "tables-" + sanitize(l), Layer: l}
		for _, t := range rep.Tables {
			if t.Name == sanitize(l)+"_"+rundir.FactorX || t.Name == sanitize(l)+"_"+rundir.FactorGrad || t.Name == sanitize(l)+"_"+rundir.FactorFisher {
				// The outcome columns repeat the Groups table; without them the table fits the page.
				hl.Tables = append(hl.Tables, toHTML(dropColumns(t, "final_train_loss", "final_test_accuracy", "status")))
			}
		}
		data.Layers = append(data.Layers, hl)
	}
	keys, values := SharedConfig(rep.Runs, NameKey)
	for _, k := range keys {
		data.Shared = append(data.Shared, [2]string{k, values[k]})
	}
	for _, d := range rep.diagnosticText() {
		data.Diagnostics = append(data.Diagnostics, diag{"diag-" + d.Name, d.Name, d.Text, rep.foldedFindings(d.Name)})
	}
	for _, f := range rep.Figures {
		hf := htmlFigure{ID: "fig-" + f.Name, Title: f.Title, Caption: f.Caption, SVG: "figures/" + f.Name + ".svg"}
		if b, ok := pngs[f.Name]; ok {
			hf.Img = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b))
		}
		data.Figures = append(data.Figures, hf)
	}

	summary := tocEntry{ID: "summary", Title: "Summary"}
	for _, p := range data.Pairs {
		summary.Sub = append(summary.Sub, tocEntry{ID: p.ID, Title: p.Title})
	}
	if c := data.CurvSummary; c != nil {
		summary.Sub = append(summary.Sub, tocEntry{ID: c.ID, Title: c.Title})
	}
	diags := tocEntry{ID: "diagnostics", Title: "Diagnostics"}
	for _, d := range data.Diagnostics {
		n := len(d.Findings.Rows)
		runs := "runs"
		if n == 1 {
			runs = "run"
		}
		diags.Sub = append(diags.Sub, tocEntry{ID: d.ID, Title: fmt.Sprintf("%s (%d %s)", d.Name, n, runs)})
	}
	figs := tocEntry{ID: "figures", Title: "Figures"}
	for _, f := range data.Figures {
		figs.Sub = append(figs.Sub, tocEntry{ID: f.ID, Title: f.Title})
	}
	tables := tocEntry{ID: "tables", Title: "Conditioning tables"}
	for _, l := range data.Layers {
		tables.Sub = append(tables.Sub, tocEntry{ID: l.ID, Title: l.Layer})
	}
	data.TOC = []tocEntry{summary, {ID: "runs", Title: "Runs"}, {ID: "config", Title: "Config differences"}, diags, figs, tables}
	if len(data.CurvTables) > 0 {
		curv := tocEntry{ID: "curvature-tables", Title: "Curvature tables"}
		for _, t := range data.CurvTables {
			curv.Sub = append(curv.Sub, tocEntry{ID: t.ID, Title: t.Title})
		}
		data.TOC = append(data.TOC, curv)
	}

	var b bytes.Buffer
	if err := reportTemplate.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("compare: report.html: %w", err)
	}
	return b.Bytes(), nil
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.4; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.4em; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td .sub { display: block; font-size: 0.8em; color: #666; }
td.wrap { max-width: 28em; overflow-wrap: anywhere; }
tr.head td { border-top: 2px solid #888; }
td.head { font-weight: 600; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
nav.toc { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 0.5em 1.5em; }
nav.toc ul { margin: 0.2em 0; padding-left: 1.2em; }
nav.toc > ul > li { margin: 0.2em 0; }
nav.toc ul ul { font-size: 0.9em; columns: 2; }
details { margin: 0.5em 0; }
details > summary { cursor: pointer; font-weight: 600; }
details.quietdetails > summary { font-weight: normal; color: #555; }
.warn { background: #fff4e0; border-left: 4px solid #e08a00; padding: 0.5em 1em; }
.note { color: #8a5a00; }
.quiet { color: #2a6a2a; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>{{.Runs}} runs in {{.Groups}} groups (runs whose configs differ only in seed form a group). Aligned by {{.Align}}; tables at {{.Align}} {{.Targets}}.</p>
{{range .Warnings}}<p class="warn"><strong>Warning:</strong> {{.}}</p>
{{end}}{{if .Notes}}<details class="quietdetails"><summary>{{len .Notes}} notes</summary>
{{range .Notes}}<p class="note">{{.}}</p>
{{end}}</details>
{{end}}
<nav class="toc"><strong>Contents</strong>
<ul>{{range .TOC}}<li><a href="#{{.ID}}">{{.Title}}</a>{{if .Sub}}<ul>{{range .Sub}}<li><a href="#{{.ID}}">{{.Title}}</a></li>{{end}}</ul>{{end}}</li>
{{end}}</ul>
</nav>

<h2 id="summary">Summary</h2>
{{template "table" .GroupsTable}}
{{if .Pairs}}<p>Groups that differ only in the compared setting, side by side: per layer and factor, λmax and {{.KappaName}} at {{.Align}} {{.Targets}}.
Each cell gives the ratio A/B of the group means in bold, and below it A / B. “rank-limited”: the κ divides by a round-off eigenvalue
(numerical_rank below the index κ uses) and is not a value. {{.StyleText}}</p>
{{range $i, $p := .Pairs}}<details id="{{$p.ID}}"{{if eq $i 0}} open{{end}}><summary>{{$p.Title}}</summary>
<p>A = {{$p.A}}, B = {{$p.B}}; cells: A/B, and below it A / B.</p>
{{template "table" $p.Table}}
</details>
{{end}}{{else}}<p>No two groups differ in a single setting, so there is nothing to put side by side; the tables below list every group.</p>{{end}}
{{with .CurvSummary}}{{template "table" .}}{{end}}

<h2 id="runs">Runs</h2>
{{template "table" .RunsTable}}
<details class="quietdetails"><summary>Run directories</summary>
<div class="scroll"><table>{{range .RunDirs}}<tr><td>{{index . 0}}</td><td class="wrap">{{index . 1}}</td></tr>{{end}}</table></div>
</details>
<h2 id="config">Config differences</h2>
{{if .Diff}}{{template "table" .Diff}}{{else}}<p>The runs' configs do not differ (name aside).</p>{{end}}
<details class="quietdetails"><summary>Settings shared by all runs</summary>
<div class="scroll"><table>{{range .Shared}}<tr><td>{{index . 0}}</td><td class="wrap">{{index . 1}}</td></tr>{{end}}</table></div>
</details>

<h2 id="diagnostics">Diagnostics</h2>
{{range .Diagnostics}}<h3 id="{{.ID}}">{{.Name}}</h3>
<p>{{.Text}}</p>
{{if .Findings.Rows}}{{template "table" .Findings}}{{else}}<p class="quiet">No run shows it.</p>{{end}}
{{end}}

<h2 id="figures">Figures</h2>
<p>{{.StyleText}}</p>
{{range .Figures}}<figure id="{{.ID}}">
<h3>{{.Title}}</h3>
{{if .Img}}<img src="{{.Img}}" alt="{{.Title}}">{{end}}
<figcaption>{{.Caption}} (<a href="{{.SVG}}">SVG</a>)</figcaption>
</figure>
{{end}}

<h2 id="tables">Conditioning tables</h2>
<p>Per layer, λmax and {{.KappaName}} of Σx, Σ∇h and F at {{.Align}} {{.Targets}}, one row per group (mean ± sample std over the seeds); tables.md and tables/*.csv hold them with the groups' final figures.</p>
{{range .Layers}}<details id="{{.ID}}"><summary>Layer {{.Layer}}: Σx, Σ∇h, F ({{len .Tables}} tables)</summary>
{{range .Tables}}{{template "table" .}}{{end}}
</details>
{{end}}
{{if .CurvTables}}<h2 id="curvature-tables">Curvature tables</h2>
<p>λmax of K-FAC's Σx⊗Σ∇h and of the exact EF, GGN and Hessian blocks per layer, and of the whole network's matrices against their blocks, at {{.Align}} {{.Targets}}; tables.md and tables/*.csv hold them too.</p>
{{range .CurvTables}}<details id="{{.ID}}"><summary>{{.Title}}</summary>
{{template "table" .Table}}
</details>
{{end}}{{end}}
</body>
</html>
{{define "cells"}}{{range .}}<td class="{{if .Num}}num{{else if or .Details (gt (len .Text) 40)}}wrap{{end}}{{if .Head}} head{{end}}">{{if .Strong}}<strong>{{.Text}}</strong>{{else}}{{.Text}}{{end}}{{if .Sub}}<span class="sub">{{.Sub}}</span>{{end}}{{if .Details}}<details class="quietdetails"><summary>every layer</summary><ul>{{range .Details}}<li>{{.}}</li>{{end}}</ul></details>{{end}}</td>{{end}}{{end}}
{{define "table"}}{{if .Title}}<h3{{if .ID}} id="{{.ID}}"{{end}}>{{.Title}}</h3>{{end}}{{if .Note}}<p>{{.Note}}</p>{{end}}
<div class="scroll"><table>
{{if .Top}}<tr>{{range .Top}}<th{{if gt .Span 1}} colspan="{{.Span}}"{{end}}{{if gt .Rows 1}} rowspan="{{.Rows}}"{{end}}>{{.Title}}</th>{{end}}</tr>
<tr>{{range .Bottom}}<th>{{.}}</th>{{end}}</tr>{{else}}<tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>{{end}}
{{range .Rows}}<tr{{if (index . 0).Head}} class="head"{{end}}>{{template "cells" .}}</tr>
{{end}}</table></div>
{{end}}`))
