package compare

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
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
	Title, Note string
	Head        []string
	Rows        [][]htmlCell
}

type htmlCell struct {
	Text string
	Num  bool
}

func toHTML(t *Table) htmlTable {
	h := htmlTable{Title: t.Title, Note: t.Note}
	for _, c := range t.Columns {
		h.Head = append(h.Head, c.Title)
	}
	for _, r := range t.Rows {
		var row []htmlCell
		for _, c := range r {
			row = append(row, htmlCell{c.String(), c.Stat != nil})
		}
		h.Rows = append(h.Rows, row)
	}
	return h
}

type htmlFigure struct {
	Title, Caption, SVG string
	Img                 template.URL
}

// HTML renders the report as one self-contained page: figures are embedded as base64 PNG
// from pngs (figure name → PNG bytes), so the page needs no other file and no server.
func (rep *Report) HTML(pngs map[string][]byte) ([]byte, error) {
	type diag struct {
		Name, Text string
		Findings   htmlTable
	}
	data := struct {
		Title          string
		Runs, Groups   int
		Align, Targets string
		Notes          []string
		RunsTable      htmlTable
		Diff           *htmlTable
		Shared         [][2]string
		Diagnostics    []diag
		Figures        []htmlFigure
		LayerTables    []htmlTable
	}{Title: rep.Title, Runs: len(rep.Runs), Groups: len(rep.Groups), Align: rep.Options.Align.String(),
		Targets: joinInts(rep.Targets), Notes: rep.Notes}
	for _, t := range rep.Tables {
		switch {
		case t.Name == "runs":
			data.RunsTable = toHTML(t)
		case t.Name == "config_diff":
			h := toHTML(t)
			data.Diff = &h
		case t.Name == "diagnostics":
		default:
			data.LayerTables = append(data.LayerTables, toHTML(t))
		}
	}
	keys, values := SharedConfig(rep.Runs, NameKey)
	for _, k := range keys {
		data.Shared = append(data.Shared, [2]string{k, values[k]})
	}
	for _, d := range rep.diagnosticText() {
		ft := &Table{Columns: []Column{{"run", ""}, {"layer", ""}, {"step", ""}, {"finding", ""}, {"numbers", ""}}}
		for _, f := range rep.Findings {
			if f.Diagnostic != d.Name {
				continue
			}
			var nums []string
			for _, n := range f.Numbers {
				nums = append(nums, n.Name+" = "+fmtNum(n.Value))
			}
			ft.Rows = append(ft.Rows, []Cell{TextCell(f.Run), TextCell(f.Layer), NumCell(float64(f.Step)),
				TextCell(f.Message), TextCell(strings.Join(nums, "; "))})
		}
		data.Diagnostics = append(data.Diagnostics, diag{d.Name, d.Text, toHTML(ft)})
	}
	for _, f := range rep.Figures {
		hf := htmlFigure{Title: f.Title, Caption: f.Caption, SVG: "figures/" + f.Name + ".svg"}
		if b, ok := pngs[f.Name]; ok {
			hf.Img = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b))
		}
		data.Figures = append(data.Figures, hf)
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
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
.note { color: #8a5a00; }
.quiet { color: #2a6a2a; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>{{.Runs}} runs in {{.Groups}} groups (runs whose configs differ only in seed form a group). Aligned by {{.Align}}; tables at {{.Align}} {{.Targets}}.</p>
{{range .Notes}}<p class="note">{{.}}</p>
{{end}}
<h2>Runs</h2>
{{template "table" .RunsTable}}
<h2>Config differences</h2>
{{if .Diff}}{{template "table" .Diff}}{{else}}<p>The runs' configs do not differ (name aside).</p>{{end}}
<details><summary>Settings shared by all runs</summary>
<table>{{range .Shared}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}</table>
</details>
<h2>Diagnostics</h2>
{{range .Diagnostics}}<h3>{{.Name}}</h3>
<p>{{.Text}}</p>
{{if .Findings.Rows}}{{template "table" .Findings}}{{else}}<p class="quiet">No run shows it.</p>{{end}}
{{end}}
<h2>Figures</h2>
{{range .Figures}}<figure>
<h3>{{.Title}}</h3>
{{if .Img}}<img src="{{.Img}}" alt="{{.Title}}">{{end}}
<figcaption>{{.Caption}} (<a href="{{.SVG}}">SVG</a>)</figcaption>
</figure>
{{end}}
<h2>Conditioning tables</h2>
{{range .LayerTables}}{{template "table" .}}{{end}}
</body>
</html>
{{define "table"}}{{if .Title}}<h3>{{.Title}}</h3>{{end}}{{if .Note}}<p>{{.Note}}</p>{{end}}
<table>
<tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td{{if .Num}} class="num"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</table>
{{end}}`))
