package reproduce

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/rundir"
)

// warmupForm is the original form trained with the recipe's warm-up (He et al. start
// ResNet-110 at lr 0.01 for about 400 steps); the plain "original" runs have none.
const warmupForm = "original-warmup"

// accuracyForms are the forms of the accuracy study, in table order.
var accuracyForms = []string{"original", "preact", "lastbn"}

type accuracyPlan struct {
	depths       []int
	seeds        []int
	steps, every int
	warmup       int // warm-up steps at lr 0.01 of the warmupForm run at the deepest depth
	testLimit    int // 0: the whole test set
}

func accuracyBudget(quick bool) accuracyPlan {
	if quick {
		return accuracyPlan{depths: []int{8, 14}, seeds: []int{1, 2}, steps: 30, every: 15, warmup: 20, testLimit: 1000}
	}
	// A quarter of an epoch per run: ResNet-110 took 0.8 s a step on two idle cores and up to
	// 5× as long on the shared ones here, so the 20 runs cost one to several hours.
	return accuracyPlan{depths: []int{20, 56, 110}, seeds: []int{1, 2}, steps: 100, every: 25, warmup: 400}
}

func (p accuracyPlan) forms(depth int) []string {
	if depth == p.depths[len(p.depths)-1] {
		return append(slices.Clone(accuracyForms), warmupForm)
	}
	return accuracyForms
}

type accuracyRun struct {
	depth, seed int
	form        string
}

// accuracyOrder lists the runs most telling first, so that a study cut short still has its
// main comparison: original and lastbn at the shallowest and the deepest depth, then the
// original with warm-up at the deepest, original and lastbn at the depths between, and preact
// last; both seeds of each before the next.
func accuracyOrder(p accuracyPlan) []accuracyRun {
	ends := []int{p.depths[0], p.depths[len(p.depths)-1]}
	between := p.depths[1 : len(p.depths)-1]
	groups := []struct {
		forms  []string
		depths []int
	}{
		{[]string{"original", "lastbn"}, ends},
		{[]string{warmupForm}, ends[1:]},
		{[]string{"original", "lastbn"}, between},
		{[]string{"preact"}, append(ends, between...)},
	}
	var out []accuracyRun
	for _, g := range groups {
		for _, d := range g.depths {
			for _, seed := range p.seeds {
				for _, form := range g.forms {
					out = append(out, accuracyRun{d, seed, form})
				}
			}
		}
	}
	return out
}

func seedLabel(seed int, form string, depth int) string {
	return fmt.Sprintf("s%d_%s_d%d", seed, form, depth)
}

func lastLayerAccuracyExperiment() *experiment {
	return &experiment{
		name:  "last-layer-accuracy",
		title: "Last-BN ResNets: test accuracy and the classifier's conditioning by form, depth and seed",
		runs: func(quick bool) []runSpec {
			plan := accuracyBudget(quick)
			var out []runSpec
			for _, r := range accuracyOrder(plan) {
				d, seed, form := r.depth, r.seed, r.form
				ov := []string{"seed=" + strconv.Itoa(seed), "model.depth=" + strconv.Itoa(d),
					"train.steps=" + strconv.Itoa(plan.steps), "analysis.every=" + strconv.Itoa(plan.every),
					"train.checkpoint_every=25"}
				if form == warmupForm {
					ov = append(ov, "model.form=original", "optim.schedule.warmup_steps="+strconv.Itoa(plan.warmup),
						"optim.schedule.warmup_lr=0.01")
				} else {
					ov = append(ov, "model.form="+form)
				}
				if plan.testLimit > 0 {
					ov = append(ov, "data.test_limit="+strconv.Itoa(plan.testLimit))
				}
				out = append(out, runSpec{label: seedLabel(seed, form, d), config: "cifar10_resnet_lastlayer.yaml", overrides: ov})
			}
			return out
		},
		check:       checkLastLayerAccuracy,
		compareOpts: func(bool) compare.Options { return compare.Options{P: lastLayerP} },
		partial:     true,
	}
}

// seedStats are one form and depth's figures over the seeds.
type seedStats struct {
	seeds    []int     // the seeds with a run, in plan order; the slices below follow it
	acc      []float64 // test accuracy per seed, in [0, 1]; a diverged run counts as NaN
	lam, kap []float64 // fc's λmax and κ_p of Σx at the last analysis step, per seed
	status   []string
}

func (s seedStats) meanAcc() float64 { return mean(s.acc) }

// spread is max − min over the seeds (NaN with fewer than two, or a diverged one).
func (s seedStats) spread() float64 {
	if len(s.acc) < 2 {
		return math.NaN()
	}
	lo, hi := s.acc[0], s.acc[0]
	for _, a := range s.acc {
		if math.IsNaN(a) {
			return math.NaN()
		}
		lo, hi = min(lo, a), max(hi, a)
	}
	return hi - lo
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f %%", 100*v)
}

// collectAccuracy gathers the finished runs' figures by form and depth.
func collectAccuracy(plan accuracyPlan, runs map[string]*compare.Run) map[string]map[int]*seedStats {
	key := "kappa_p" + strconv.FormatFloat(lastLayerP, 'g', -1, 64)
	out := map[string]map[int]*seedStats{}
	for _, d := range plan.depths {
		for _, form := range plan.forms(d) {
			st := &seedStats{}
			for _, seed := range plan.seeds {
				r := runs[seedLabel(seed, form, d)]
				if r == nil {
					continue
				}
				acc := float64(r.Summary.Final.TestAccuracy)
				if r.Summary.Status == rundir.StatusDiverged {
					acc = math.NaN()
				}
				st.seeds = append(st.seeds, seed)
				st.acc = append(st.acc, acc)
				st.lam = append(st.lam, lastValue(r, "fc", rundir.FactorX, "lambda_max"))
				st.kap = append(st.kap, lastValue(r, "fc", rundir.FactorX, key))
				st.status = append(st.status, r.StatusText())
			}
			if out[form] == nil {
				out[form] = map[int]*seedStats{}
			}
			out[form][d] = st
		}
	}
	return out
}

func checkLastLayerAccuracy(quick bool, runs map[string]*compare.Run) ([]Check, []string, []*compare.Figure) {
	plan := accuracyBudget(quick)
	stats := collectAccuracy(plan, runs)
	deepest := plan.depths[len(plan.depths)-1]
	var perSeed, agg [][]string
	for _, d := range plan.depths {
		for _, form := range plan.forms(d) {
			st := stats[form][d]
			for i, seed := range st.seeds { // a missing run leaves its seed out, not the last one
				perSeed = append(perSeed, []string{strconv.Itoa(d), form, strconv.Itoa(seed), st.status[i], pct(st.acc[i]), g3(st.lam[i]), g3(st.kap[i])})
			}
			agg = append(agg, []string{strconv.Itoa(d), form, pct(st.meanAcc()), pct(st.spread()), g3(mean(st.lam)), g3(mean(st.kap))})
		}
	}
	testSet := "all 10 000 test images"
	if plan.testLimit > 0 {
		testSet = fmt.Sprintf("a seeded sample of %d test images", plan.testLimit)
	}
	tables := []string{
		mdTable(fmt.Sprintf("Mean over seeds %v after %d steps (%s); spread = max − min over the seeds; fc's Σx at the last analysis step, κ with p = %g",
			plan.seeds, plan.steps, testSet, lastLayerP),
			[]string{"depth", "form", "test accuracy", "spread", "λmax(Σx) fc", "κ(Σx) fc"}, agg),
		mdTable("Per seed", []string{"depth", "form", "seed", "status", "test accuracy", "λmax(Σx) fc", "κ(Σx) fc"}, perSeed),
	}
	gain := func(d int, other string) float64 { return stats["lastbn"][d].meanAcc() - stats[other][d].meanAcc() }
	var checks []Check
	for _, other := range []string{"original", "preact"} {
		ok, text := true, ""
		for _, d := range plan.depths {
			g := gain(d, other)
			ok = ok && g > 0
			text += fmt.Sprintf("depth %d: %s vs %s (%+.1f points); ", d, pct(stats["lastbn"][d].meanAcc()), pct(stats[other][d].meanAcc()), 100*g)
		}
		checks = append(checks, Check{Claim: fmt.Sprintf("lastbn's mean test accuracy is above %s's at every depth", other),
			Values: trimSep(text), Pass: ok})
	}
	g0, gN := gain(plan.depths[0], "original"), gain(deepest, "original")
	checks = append(checks, Check{
		Claim:  fmt.Sprintf("lastbn's gain over the original grows with depth (depth %d > depth %d)", deepest, plan.depths[0]),
		Values: fmt.Sprintf("%+.1f → %+.1f points", 100*g0, 100*gN),
		Pass:   gN > g0,
	})
	noise := max(stats["original"][deepest].spread(), stats["lastbn"][deepest].spread())
	checks = append(checks, Check{
		Claim:  fmt.Sprintf("at depth %d the gain over the original exceeds the seed spread of either form", deepest),
		Values: fmt.Sprintf("gain %+.1f points, larger spread %.1f points", 100*gN, 100*noise),
		Pass:   gN > noise,
	})
	w := stats[warmupForm][deepest]
	checks = append(checks, Check{
		Claim: fmt.Sprintf("at depth %d lastbn without warm-up beats the original with the recipe's warm-up (%d steps at lr 0.01)", deepest, plan.warmup),
		Values: fmt.Sprintf("lastbn %s, original with warm-up %s, original without %s", pct(stats["lastbn"][deepest].meanAcc()),
			pct(w.meanAcc()), pct(stats["original"][deepest].meanAcc())),
		Pass: stats["lastbn"][deepest].meanAcc() > w.meanAcc(),
	})
	ok, text := true, ""
	for _, d := range plan.depths {
		lo, lb := mean(stats["original"][d].lam), mean(stats["lastbn"][d].lam)
		ok = ok && lb < lo
		text += fmt.Sprintf("depth %d: original %s, lastbn %s; ", d, g3(lo), g3(lb))
	}
	checks = append(checks, Check{Claim: "at the end of training lastbn's λmax(Σx) of the classifier is below the original's at every depth",
		Values: trimSep(text), Pass: ok})
	return checks, tables, []*compare.Figure{accuracyFigure(plan, stats, runs)}
}

// accuracyFigure shows test accuracy and the classifier's λmax(Σx) against depth per form
// (the mean over seeds, with the seeds' range as a band), and fc's λmax(Σx) over training at
// the deepest depth.
func accuracyFigure(plan accuracyPlan, stats map[string]map[int]*seedStats, runs map[string]*compare.Run) *compare.Figure {
	f := &compare.Figure{Name: "reproduce_last_layer_accuracy", Title: fmt.Sprintf("ResNet forms after %d steps: accuracy and the classifier's Σx", plan.steps),
		Cols: 3, Width: 15, Height: 4.2}
	acc := compare.Panel{Title: "test accuracy (mean, seed range)", XLabel: "depth"}
	lam := compare.Panel{Title: "lmax(Σx) of fc, last analysis", XLabel: "depth", LogY: true}
	deepest := plan.depths[len(plan.depths)-1]
	over := compare.Panel{Title: fmt.Sprintf("lmax(Σx) of fc over training, depth %d, seed %d", deepest, plan.seeds[0]), XLabel: "step", LogY: true, IntX: true}
	for i, form := range append(slices.Clone(accuracyForms), warmupForm) {
		sa := compare.Series{Label: form, Color: i, Points: true}
		sl := compare.Series{Label: form, Color: i, Points: true}
		for _, d := range plan.depths {
			st := stats[form][d]
			if st == nil || len(st.acc) == 0 {
				continue
			}
			lo, hi := slices.Min(st.acc), slices.Max(st.acc)
			sa.X, sa.Y = append(sa.X, float64(d)), append(sa.Y, st.meanAcc())
			sa.Lo, sa.Hi = append(sa.Lo, lo), append(sa.Hi, hi)
			sl.X, sl.Y = append(sl.X, float64(d)), append(sl.Y, mean(st.lam))
		}
		acc.Series, lam.Series = append(acc.Series, sa), append(lam.Series, sl)
		if r := runs[seedLabel(plan.seeds[0], form, deepest)]; r != nil {
			so := compare.Series{Label: form, Color: i, Points: true}
			for _, rec := range r.Series("fc", rundir.FactorX) {
				so.X, so.Y = append(so.X, float64(rec.Step)), append(so.Y, rec.Value("lambda_max"))
			}
			over.Series = append(over.Series, so)
		}
	}
	f.Panels = []compare.Panel{acc, lam, over}
	return f
}
