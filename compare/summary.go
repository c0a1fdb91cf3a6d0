package compare

import (
	"fmt"
	"github.com/lwca/lwca/rundir"
	"math"
	"slices"
	"strconv"
	"strings"
)

// lineID is how a group is drawn: a palette color and a dash pattern.
type lineID struct{ Color, Dash int }

// Pair is two groups that differ only in the compared setting (Report.StyleKey); the summary
// shows their values side by side with the ratio A/B.
type Pair struct {
	Context string // the settings both share among those that differ between groups: "lr=0.1"
	A, B    *Group
}

// styleKey chooses the setting that line styles mark: model.norm when it differs between
// groups (the comparison lwca is built for), else the differing setting with the fewest
// values. It returns "" when the groups differ in no setting.
func styleKey(runs []*Run, groups []*Group) (string, []string) {
	diff := ConfigDiff(runs, SeedKey, NameKey)
	valuesOf := func(k string) []string {
		var vs []string
		for _, g := range groups {
			if v := g.Runs[0].Config[k]; g.Runs[0].Config != nil && !slices.Contains(vs, v) {
				vs = append(vs, v)
			}
		}
		return vs
	}
	if slices.Contains(diff, "model.norm") {
		return "model.norm", valuesOf("model.norm")
	}
	best, bestVals := "", []string(nil)
	for _, k := range diff {
		if vs := valuesOf(k); len(vs) > 1 && (best == "" || len(vs) < len(bestVals)) {
			best, bestVals = k, vs
		}
	}
	return best, bestVals
}

// context returns the group's values of the differing settings other than the style key.
func (rep *Report) context(g *Group) string {
	cfg := g.Runs[0].Config
	diff := ConfigDiff(rep.Runs, SeedKey, NameKey)
	short := shortKeys(diff)
	var parts []string
	for _, k := range diff {
		if k != rep.StyleKey {
			parts = append(parts, short[k]+"="+cfg[k])
		}
	}
	return strings.Join(parts, ",")
}

// setStyles gives each group its line: the dash pattern marks its value of the style key
// (BN solid, plain dashed, …) and the color its other settings, so that groups that differ
// only in the compared setting share a color. Without a style key, or with runs that have
// no config, every group has its own color.
func (rep *Report) setStyles() {
	rep.style = map[*Group]lineID{}
	configs := !slices.ContainsFunc(rep.Runs, func(r *Run) bool { return r.Config == nil })
	if configs {
		rep.StyleKey, rep.StyleValues = styleKey(rep.Runs, rep.Groups)
	}
	if rep.StyleKey == "" {
		for i, g := range rep.Groups {
			rep.style[g] = lineID{Color: i}
		}
		return
	}
	var contexts []string
	for _, g := range rep.Groups {
		if c := rep.context(g); !slices.Contains(contexts, c) {
			contexts = append(contexts, c)
		}
	}
	for _, g := range rep.Groups {
		dash := slices.Index(rep.StyleValues, g.Runs[0].Config[rep.StyleKey])
		color := slices.Index(contexts, rep.context(g))
		if len(contexts) == 1 {
			color = dash // one context: color and dash both mark the compared setting
		}
		rep.style[g] = lineID{color, dash}
	}
}

func (rep *Report) styleOf(g *Group) lineID {
	if s, ok := rep.style[g]; ok {
		return s
	}
	return lineID{Color: slices.Index(rep.Groups, g)}
}

// pairs puts each group beside the group of the same context with the first value of the
// style key (the baseline: model.norm none against batchnorm when the sweep lists none
// first). Two groups that differ in several settings form a pair of their own.
func (rep *Report) pairs() []Pair {
	var out []Pair
	if rep.StyleKey != "" {
		byCtx := map[string][]*Group{}
		var order []string
		for _, g := range rep.Groups {
			c := rep.context(g)
			if byCtx[c] == nil {
				order = append(order, c)
			}
			byCtx[c] = append(byCtx[c], g)
		}
		for _, c := range order {
			gs := byCtx[c]
			base := gs[0]
			for _, g := range gs {
				if rep.styleOf(g).Dash < rep.styleOf(base).Dash {
					base = g
				}
			}
			for _, g := range gs {
				if g != base {
					out = append(out, Pair{Context: c, A: base, B: g})
				}
			}
		}
	}
	if len(out) == 0 && len(rep.Groups) == 2 {
		out = append(out, Pair{A: rep.Groups[0], B: rep.Groups[1]})
	}
	return out
}

// Title names a pair: "lr=0.1: norm=none vs norm=batchnorm".
func (p Pair) Title(rep *Report) string {
	a, b := p.A.Label, p.B.Label
	if rep.StyleKey != "" && p.Context != "" {
		k := shortKeys(ConfigDiff(rep.Runs, SeedKey, NameKey))[rep.StyleKey]
		a = k + "=" + p.A.Runs[0].Config[rep.StyleKey]
		b = k + "=" + p.B.Runs[0].Config[rep.StyleKey]
		return p.Context + ": " + a + " vs " + b
	}
	return a + " vs " + b
}

// groupCell summarises a group's values of key at target t: the mean over the runs with an
// ordinary value, counting rank-limited κ apart.
func (rep *Report) groupCell(g *Group, layer, factor, key string, t int) Cell {
	var vs []float64
	limited := 0
	for _, r := range g.Runs {
		v, lim := valueOf(rep.Options.Align.At(r, layer, factor, t), key)
		if lim {
			limited++
		}
		vs = append(vs, v)
	}
	return limitedCell(vs, limited)
}

// ratioCell is the ratio of the means of two cells; "–" when either has no ordinary value.
func ratioCell(a, b Cell) Cell {
	if a.Stat == nil || b.Stat == nil || a.Stat.N == 0 || b.Stat.N == 0 {
		return NumCell(math.NaN())
	}
	return NumCell(a.Stat.Mean / b.Stat.Mean)
}

// checkKappaKey warns when κ_p for the requested p is missing from the records: every κ cell
// would read "–" with no other sign of the cause.
func (rep *Report) checkKappaKey() {
	var ps []float64
	var without []string
	for _, r := range rep.Runs {
		has := false
		for _, rec := range r.Records {
			for k := range rec.Values {
				if s, ok := strings.CutPrefix(k, "kappa_p"); ok {
					if p, err := strconv.ParseFloat(s, 64); err == nil && !slices.Contains(ps, p) {
						ps = append(ps, p)
					}
				}
			}
			has = has || !math.IsNaN(rec.Value(rep.KappaKey))
		}
		if !has && len(r.Records) > 0 {
			without = append(without, r.Label)
		}
	}
	slices.Sort(ps)
	var rec []string
	for _, p := range ps {
		rec = append(rec, strconv.FormatFloat(p, 'g', -1, 64))
	}
	recorded := "none"
	if len(rec) > 0 {
		recorded = "p = " + strings.Join(rec, ", ")
	}
	withRecords := 0
	for _, r := range rep.Runs {
		if len(r.Records) > 0 {
			withRecords++
		}
	}
	switch {
	case withRecords > 0 && len(without) == withRecords:
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("κ_p for p = %s (record key %s) was recorded by no run, so every κ_p value is missing; the runs recorded %s (analysis.p): choose one with --p",
			strconv.FormatFloat(rep.Options.P, 'g', -1, 64), rep.KappaKey, recorded))
	case len(without) > 0:
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("κ_p for p = %s (record key %s) is missing from the records of %s; the runs recorded %s",
			strconv.FormatFloat(rep.Options.P, 'g', -1, 64), rep.KappaKey, strings.Join(without, ", "), recorded))
	}
}

// groupsTable is each group's outcome: members, status, final figures.
func (rep *Report) groupsTable() *Table {
	t := &Table{Name: "groups", Title: "Groups",
		Note: "Runs whose configs differ only in seed form a group; figures are the last finished epoch's (mean ± sample std over the seeds).",
		Columns: []Column{{"group", "group"}, {"runs", "n"}, {"status", "status"},
			{"final train loss", "final_train_loss"}, {"final test accuracy", "final_test_accuracy"}}}
	for _, g := range rep.Groups {
		var losses, accs []float64
		for _, r := range g.Runs {
			l, a := final(r)
			losses, accs = append(losses, l), append(accs, a)
		}
		t.Rows = append(t.Rows, []Cell{TextCell(g.Label), TextCell(strconv.Itoa(len(g.Runs))), TextCell(groupStatus(g)),
			StatCell(losses), StatCell(accs)})
	}
	return t
}

// summaryMetrics are the record keys the summary compares.
func (rep *Report) summaryMetrics() []string { return []string{"lambda_max", rep.KappaKey} }

// summaryTable is the summary in long form (one line per pair, layer, factor, metric and
// target), for tables/summary.csv and tables.md; the page shows it pair by pair.
func (rep *Report) summaryTable() *Table {
	a := rep.Options.Align
	t := &Table{Name: "summary", Title: "Summary",
		Note: "Per layer, λmax and " + metricName(rep.KappaKey) + " of each factor for groups that differ only in the compared setting, and the ratio A/B of their means.",
		Columns: []Column{{"comparison", "comparison"}, {"A", "group_a"}, {"B", "group_b"}, {"layer", "layer"},
			{"factor", "factor"}, {"metric", "metric"}, {a.String(), a.String()}, {"A value", "a"}, {"B value", "b"}, {"A/B", "ratio"}}}
	for _, p := range rep.Pairs {
		title := p.Title(rep)
		for _, l := range rep.Layers {
			for _, f := range rundir.Factors {
				for _, k := range rep.summaryMetrics() {
					for _, tg := range rep.Targets {
						ca, cb := rep.groupCell(p.A, l, f, k, tg), rep.groupCell(p.B, l, f, k, tg)
						t.Rows = append(t.Rows, []Cell{TextCell(title), TextCell(p.A.Label), TextCell(p.B.Label),
							TextCell(l), TextCell(factorName(f)), TextCell(metricName(k)), TextCell(strconv.Itoa(tg)),
							ca, cb, ratioCell(ca, cb)})
					}
				}
			}
		}
	}
	return t
}
