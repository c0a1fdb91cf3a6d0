package compare

import (
	"fmt"
	"math"
	"strconv"

	"github.com/lwca/lwca/rundir"
)

// The curvature views show the records of analysis.curvature (factor "curvature"): per
// layer, K-FAC's λmax(Σx⊗Σ∇h) next to the exact blocks of the empirical Fisher (EF), the
// Gauss–Newton matrix (GGN) and the Hessian (H) on the same samples; for the whole network,
// λmax of the full matrices next to the max and the sum of the block λmaxes; and the
// stability ratios η·λmax/(2(1+μ)). A report of runs without such records has none of them.

// curvatureKind is one matrix of the curvature records, with its record key.
type curvatureKind struct{ Name, Key string }

// blockKinds are the per-layer λmaxes of the curvature records, K-FAC first.
var blockKinds = []curvatureKind{
	{"K-FAC Σx⊗Σ∇h", "kfac_lambda_max"}, {"EF", "ef_lambda_max"}, {"GGN", "ggn_lambda_max"}, {"H", "hessian_lambda_max"},
}

// networkKinds are the matrices the records give for the whole network: key is the full
// matrix's λmax, key prefix + "_block_lambda_max_max" / "_sum" the max and sum of its
// blocks' λmaxes (the bounds of a PSD matrix: max ≤ λmax ≤ sum).
var networkKinds = []curvatureKind{{"H", "network_hessian"}, {"GGN", "network_ggn"}, {"EF", "network_ef"}}

// stabilityKinds are the curvatures the stability views set against 2(1+μ)/η: the largest
// block over the layers, or the whole network.
var stabilityKinds = []struct {
	Name, Key string
	Block     bool
}{
	{"K-FAC F (max over layers)", "kfac_lambda_max", true},
	{"EF block (max over layers)", "ef_lambda_max", true},
	{"GGN block (max over layers)", "ggn_lambda_max", true},
	{"H block (max over layers)", "hessian_lambda_max", true},
	{"H, whole network", "network_hessian_lambda_max", false},
}

// thresholdKey is the record key of 2(1+μ)/η at the record's step.
const thresholdKey = "network_stability_threshold"

// hasCurvature reports whether some run wrote curvature records.
func (rep *Report) hasCurvature() bool { return len(rep.curvGroups()) > 0 }

// curvGroups are the groups some run of which has curvature records: the curvature views
// leave the others out.
func (rep *Report) curvGroups() []*Group {
	var out []*Group
	for _, g := range rep.Groups {
		for _, r := range g.Runs {
			if networkLayer(r) != "" {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// networkLayer is the first layer of r with curvature records: every layer's record repeats
// the whole network's values, "" when r has none.
func networkLayer(r *Run) string {
	for _, l := range r.Layers() {
		if len(r.Series(l, rundir.FactorCurvature)) > 0 {
			return l
		}
	}
	return ""
}

// CurvatureRatio is η·λmax/(2(1+μ)) at one step of r of the curvature records' key: λmax
// (with block, a per-layer key, the largest over the layers) over the record's threshold
// 2(1+μ)/η; NaN when the step has no such record or threshold.
func CurvatureRatio(r *Run, key string, block bool, step int) float64 {
	lam, thr := math.NaN(), math.NaN()
	for _, l := range r.Layers() {
		for _, rec := range r.Series(l, rundir.FactorCurvature) {
			if rec.Step == step {
				thr = rec.Value(thresholdKey)
				if v := rec.Value(key); !math.IsNaN(v) && !(v <= lam) {
					lam = v
				}
			}
		}
		if !block && !math.IsNaN(lam) {
			break
		}
	}
	return lam / thr
}

// maxCurvatureRatio is the largest ratio of a kind over r's curvature steps, and the step
// where it was reached (-1 with none).
func maxCurvatureRatio(r *Run, key string, block bool) (ratio float64, step int) {
	ratio, step = math.NaN(), -1
	if l := networkLayer(r); l != "" {
		for _, rec := range r.Series(l, rundir.FactorCurvature) {
			if v := CurvatureRatio(r, key, block, rec.Step); !math.IsNaN(v) && !(v <= ratio) {
				ratio, step = v, rec.Step
			}
		}
	}
	return ratio, step
}

// learningRate is the run's optim.lr, NaN when its config has none.
func learningRate(r *Run) float64 {
	v, err := strconv.ParseFloat(r.Config["optim.lr"], 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// diverged reports whether the run ended with a non-finite loss.
func diverged(r *Run) bool { return r.Summary.Status == rundir.StatusDiverged }

// addCurvature adds the curvature tables and figures when some run has curvature records.
func (rep *Report) addCurvature() {
	if !rep.hasCurvature() {
		return
	}
	rep.Tables = append(rep.Tables, rep.curvatureStabilityTable())
	for _, l := range rep.Layers {
		rep.Tables = append(rep.Tables, rep.curvatureLayerTable(l))
	}
	rep.Tables = append(rep.Tables, rep.curvatureNetworkTable())
	rep.addFigure(rep.curvatureBlocksFigure())
	rep.addFigure(rep.curvatureNetworkFigure())
	rep.addFigure(rep.sharpnessFigure())
	rep.addFigure(rep.curvatureStabilityFigure())
}

// curvatureStabilityTable is the summary of the curvature views: per group, its learning
// rate and outcome, and per curvature the largest η·λmax/(2(1+μ)) over its curvature steps.
func (rep *Report) curvatureStabilityTable() *Table {
	t := &Table{Name: "curvature_stability", Title: "Curvature against the stability threshold",
		Note: "Largest η·λmax/(2(1+μ)) over a run's curvature steps (> 1: heavy-ball gradient descent on the quadratic model is unstable along that direction); " +
			"blocks: the largest over the layers. Groups of seeds: mean ± sample std.",
		Columns: []Column{{"group", "group"}, {"lr", "lr"}, {"status", "status"}}}
	for _, k := range stabilityKinds {
		t.Columns = append(t.Columns, Column{k.Name, "max_ratio_" + k.Key})
	}
	for _, g := range rep.curvGroups() {
		row := []Cell{TextCell(g.Label), NumCell(learningRate(g.Runs[0])), TextCell(groupStatus(g))}
		for _, k := range stabilityKinds {
			var vs []float64
			for _, r := range g.Runs {
				v, _ := maxCurvatureRatio(r, k.Key, k.Block)
				vs = append(vs, v)
			}
			row = append(row, StatCell(vs))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// curvatureLayerTable gives a layer's block λmaxes at the targets, one row per group.
func (rep *Report) curvatureLayerTable(layer string) *Table {
	a := rep.Options.Align
	t := &Table{Name: sanitize(layer) + "_" + rundir.FactorCurvature, Title: layer + " curvature blocks",
		Note: fmt.Sprintf("λmax of the layer's block at %s %s (a run's latest curvature analysis at or before it): K-FAC's Σx⊗Σ∇h and the exact EF, GGN and H, all on the curvature sample.",
			a, joinInts(rep.Targets)),
		Columns: []Column{{"group", "group"}, {"n", "n"}}}
	for _, k := range blockKinds {
		for _, tg := range rep.Targets {
			t.Columns = append(t.Columns, Column{k.Name + " λmax@" + a.Tag(tg), k.Key + "@" + a.Tag(tg)})
		}
	}
	for _, g := range rep.curvGroups() {
		row := []Cell{TextCell(g.Label), TextCell(strconv.Itoa(len(g.Runs)))}
		for _, k := range blockKinds {
			for _, tg := range rep.Targets {
				row = append(row, rep.groupCell(g, layer, rundir.FactorCurvature, k.Key, tg))
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// networkCell is a group's whole-network value of key at target t.
func (rep *Report) networkCell(g *Group, key string, t int) Cell {
	var vs []float64
	for _, r := range g.Runs {
		v := math.NaN()
		if l := networkLayer(r); l != "" {
			v, _ = valueOf(rep.Options.Align.At(r, l, rundir.FactorCurvature, t), key)
		}
		vs = append(vs, v)
	}
	return StatCell(vs)
}

// curvatureNetworkTable gives, per group and matrix, λmax of the whole network's matrix and
// the max and sum of its blocks' λmaxes at the targets, and the sharpness ratio.
func (rep *Report) curvatureNetworkTable() *Table {
	a := rep.Options.Align
	t := &Table{Name: "network_curvature", Title: "Whole network: λmax against the blocks",
		Note: fmt.Sprintf("At %s %s: λmax of the whole network's matrix, the largest and the sum of its layer blocks' λmaxes (for PSD GGN and EF, max ≤ λmax ≤ sum; λmax near the max: the blocks barely couple), and for H the ratio η·λmax/(2(1+μ)).",
			a, joinInts(rep.Targets)),
		Columns: []Column{{"group", "group"}, {"matrix", "matrix"}}}
	cols := []struct{ title, suffix string }{{"λmax", "_lambda_max"}, {"max block λmax", "_block_lambda_max_max"}, {"Σ block λmax", "_block_lambda_max_sum"}}
	for _, c := range cols {
		for _, tg := range rep.Targets {
			t.Columns = append(t.Columns, Column{c.title + "@" + a.Tag(tg), c.suffix[1:] + "@" + a.Tag(tg)})
		}
	}
	for _, tg := range rep.Targets {
		t.Columns = append(t.Columns, Column{"η·λmax/(2(1+μ))@" + a.Tag(tg), "sharpness_ratio@" + a.Tag(tg)})
	}
	for _, g := range rep.curvGroups() {
		for _, k := range networkKinds {
			row := []Cell{TextCell(g.Label), TextCell(k.Name)}
			for _, c := range cols {
				for _, tg := range rep.Targets {
					row = append(row, rep.networkCell(g, k.Key+c.suffix, tg))
				}
			}
			for _, tg := range rep.Targets {
				if k.Key == "network_hessian" {
					row = append(row, rep.networkCell(g, "network_sharpness_ratio", tg))
				} else {
					row = append(row, TextCell(""))
				}
			}
			t.Rows = append(t.Rows, row)
		}
	}
	return t
}

// curveOver is a group's curve of key of one layer's curvature records over training.
func (rep *Report) curveOver(g *Group, layer func(r *Run) string, key string) Series {
	return rep.curveOf(g, layer, func(rec *rundir.ConditioningRecord) float64 { return rec.Value(key) })
}

// curveOf is a group's curve over training of value of each run's curvature records of
// layer(run).
func (rep *Report) curveOf(g *Group, layer func(r *Run) string, value func(*rundir.ConditioningRecord) float64) Series {
	a := rep.Options.Align
	return rep.groupCurve(g, func(r *Run) []curvePoint {
		var pts []curvePoint
		for _, rec := range r.Series(layer(r), rundir.FactorCurvature) {
			pts = append(pts, curvePoint{key: rec.Step, x: a.X(r, float64(rec.Step)), y: value(rec)})
		}
		return pts
	})
}

// overTraining is an empty panel of values over training.
func (rep *Report) overTraining(title, ylabel string) Panel {
	return Panel{Title: title, XLabel: rep.axisLabel(), YLabel: ylabel, LogY: true, IntX: rep.Options.Align == ByStep, XMax: rep.xEnd()}
}

// shareRows gives the panels of each row of cols the same vertical range, so that values
// can be read across a row.
func shareRows(panels []Panel, cols int) {
	for i := 0; i < len(panels); i += cols {
		row := panels[i:min(i+cols, len(panels))]
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, p := range row {
			l, h := p.yRange()
			lo, hi = math.Min(lo, l), math.Max(hi, h)
		}
		if lo <= hi {
			for j := range row {
				row[j].YInclude = []float64{lo, hi}
			}
		}
	}
}

// curvatureBlocksFigure shows, per layer, λmax of K-FAC's Σx⊗Σ∇h and of the exact EF, GGN
// and H blocks over training, one row per layer with a shared axis.
func (rep *Report) curvatureBlocksFigure() *Figure {
	cols := len(blockKinds)
	f := &Figure{Name: "curvature_blocks", Title: "Curvature blocks: K-FAC against the exact EF, GGN and H", Cols: cols,
		Width: 14, Height: 2.8*float64(max(len(rep.Layers), 1)) + 0.6,
		Caption: "λmax of each layer's block over training, log scale, on the curvature sample: K-FAC's Σx⊗Σ∇h and the exact empirical Fisher (EF), Gauss–Newton (GGN) and Hessian (H) blocks. " +
			"The panels of a row share their vertical axis." + rep.groupsNote()}
	for _, l := range rep.Layers {
		for _, k := range blockKinds {
			p := rep.overTraining(l+" "+k.Name, "λmax")
			for _, g := range rep.curvGroups() {
				p.Series = append(p.Series, rep.curveOver(g, func(*Run) string { return l }, k.Key))
			}
			f.Panels = append(f.Panels, p)
		}
	}
	shareRows(f.Panels, cols)
	return f
}

// curvatureNetworkFigure shows, per matrix, λmax of the whole network over training, and its
// ratio to the largest and to the sum of the block λmaxes.
func (rep *Report) curvatureNetworkFigure() *Figure {
	f := &Figure{Name: "curvature_network", Title: "Whole network against its layer blocks", Cols: len(networkKinds), Width: 12, Height: 9,
		Caption: "Top row: λmax of the whole network's H, GGN and EF over training. Middle: λmax over the largest block λmax; bottom: λmax over the sum of the block λmaxes " +
			"(the grey line marks 1; for the PSD GGN and EF the middle ratio is ≥ 1 and the bottom ≤ 1; a middle ratio near 1 means the layer-wise, block-diagonal view loses little). Log scale." + rep.groupsNote()}
	net := networkLayer
	for _, row := range []struct{ title, ylabel, div string }{
		{"λmax", "λmax", ""}, {"λmax / max block λmax", "ratio", "_block_lambda_max_max"}, {"λmax / Σ block λmax", "ratio", "_block_lambda_max_sum"}} {
		for _, k := range networkKinds {
			p := rep.overTraining(k.Name+" "+row.title, row.ylabel)
			for _, g := range rep.curvGroups() {
				value := func(rec *rundir.ConditioningRecord) float64 { return rec.Value(k.Key + "_lambda_max") }
				if row.div != "" {
					value = func(rec *rundir.ConditioningRecord) float64 {
						return rec.Value(k.Key+"_lambda_max") / rec.Value(k.Key+row.div)
					}
					p.RefY = 1
				}
				p.Series = append(p.Series, rep.curveOf(g, net, value))
			}
			f.Panels = append(f.Panels, p)
		}
	}
	return f
}

// sharpnessFigure shows λmax of the whole Hessian over training and its ratio to the edge of
// stability 2(1+μ)/η.
func (rep *Report) sharpnessFigure() *Figure {
	f := &Figure{Name: "sharpness", Title: "Sharpness against the edge of stability", Cols: 2, Width: 11, Height: 4.5,
		Caption: "Left: the sharpness λmax(H) of the whole network over training. Right: η·λmax(H)/(2(1+μ)), the sharpness over the threshold 2(1+μ)/η of heavy-ball gradient descent (the grey line marks 1: above it the quadratic model diverges). Log scale." + rep.groupsNote()}
	left := rep.overTraining("sharpness λmax(H)", "λmax(H)")
	right := rep.overTraining("η·λmax(H) / (2(1+μ))", "ratio")
	right.RefY = 1
	for _, g := range rep.curvGroups() {
		left.Series = append(left.Series, rep.curveOver(g, networkLayer, "network_hessian_lambda_max"))
		right.Series = append(right.Series, rep.curveOver(g, networkLayer, "network_sharpness_ratio"))
	}
	f.Panels = []Panel{left, right}
	return f
}

// curvatureStabilityFigure shows, per curvature, each group's largest η·λmax/(2(1+μ)) against
// its learning rate, runs that diverged on the left and the others on the right: a curvature
// predicts divergence when the left points lie above 1 and the right ones below.
func (rep *Report) curvatureStabilityFigure() *Figure {
	f := &Figure{Name: "curvature_stability", Title: "Which curvature crosses its threshold where training diverges", Cols: 2,
		Width: 11, Height: 2.6*float64(len(stabilityKinds)) + 0.6,
		Caption: "Per curvature (rows), each group's largest η·λmax/(2(1+μ)) over its curvature steps against its learning rate (optim.lr, log scale); left: runs that diverged, right: runs that did not. " +
			"The grey line marks the threshold 1: a curvature predicts divergence when the points on the left lie above it and those on the right below. Blocks: the largest over the layers." + rep.groupsNote()}
	for _, k := range stabilityKinds {
		for _, div := range []bool{true, false} {
			title := k.Name + ", diverged"
			if !div {
				title = k.Name + ", did not diverge"
			}
			p := Panel{Title: title, XLabel: "log10 learning rate", YLabel: "η·λmax/(2(1+μ))", LogY: true, RefY: 1}
			for _, g := range rep.curvGroups() {
				s := rep.groupCurve(g, func(r *Run) []curvePoint {
					v, _ := maxCurvatureRatio(r, k.Key, k.Block)
					if diverged(r) != div || math.IsNaN(v) {
						return nil
					}
					return []curvePoint{{key: 0, x: math.Log10(learningRate(r)), y: v}}
				})
				s.Points = true
				p.Series = append(p.Series, s) // empty ones too: the legend lists the groups in order
			}
			f.Panels = append(f.Panels, p)
		}
	}
	// Both columns share the learning-rate axis, so that a rate sits at one x in both.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range f.Panels {
		for _, s := range p.Series {
			for _, x := range s.X {
				if !math.IsNaN(x) && !math.IsInf(x, 0) {
					lo, hi = math.Min(lo, x), math.Max(hi, x)
				}
			}
		}
	}
	if lo <= hi {
		lo, hi = padRange(lo, hi)
		for i := range f.Panels {
			f.Panels[i].XMin, f.Panels[i].XMax = lo, hi
		}
	}
	return f
}
