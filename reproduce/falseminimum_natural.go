package reproduce

import (
	"fmt"
	"math"
	"strconv"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/rundir"
)

// The false minimum under the paper's own conditions: BN and either a large constant learning
// rate or large initial weights, no weight decay, over a longer budget, against the same runs
// with weight decay. No burst of larger steps pumps ‖W‖ up; whatever growth there is comes
// from the steps themselves (each adds η²‖∇W‖² to ‖W‖², the gradient of a scale-invariant
// layer being orthogonal to W).

// naturalCase is one condition: a config at one learning rate, without weight decay and
// with each of wds.
type naturalCase struct {
	name   string // the runs' label prefix
	config string
	lr     float64
	init   string // model.init, if set: the BN-fed layers' initialiser in the init config
	wds    []float64
}

type naturalPlan struct {
	cases        []naturalCase
	steps, every int // steps 0: the configs' 10 epochs
}

func naturalBudget(quick bool) naturalPlan {
	wds := []float64{1e-4, falseMinimumWD}
	if quick {
		return naturalPlan{cases: []naturalCase{{"lr2", "mnist_false_minimum.yaml", 2, "", wds[1:]}}, steps: 600, every: 50}
	}
	const initCfg = "mnist_false_minimum_init.yaml"
	return naturalPlan{cases: []naturalCase{
		{"lr2", "mnist_false_minimum.yaml", 2, "", wds},
		{"lr5", "mnist_false_minimum.yaml", 5, "", wds},
		{"init10", initCfg, 0.1, "he_x10", wds},
		{"init100", initCfg, 0.1, "he_x100", wds},
		{"init1", initCfg, 0.1, "he", wds[1:]}, // the usual scale, for reference
	}, every: 100}
}

func fmtG(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// label names the case's run at weight decay wd (0: none).
func (c naturalCase) label(wd float64) string {
	if wd == 0 {
		return c.name + "_no_wd"
	}
	return c.name + "_wd" + fmtG(wd)
}

func falseMinimumNaturalExperiment() *experiment {
	return &experiment{
		name:  "false-minimum-natural",
		title: "BatchNorm's false minimum under a large constant learning rate, with and without weight decay",
		runs: func(quick bool) []runSpec {
			plan := naturalBudget(quick)
			var out []runSpec
			for _, c := range plan.cases {
				for _, wd := range append([]float64{0}, c.wds...) {
					ov := []string{"optim.schedule.warmup_steps=0", "optim.lr=" + fmtG(c.lr), "optim.weight_decay=" + fmtG(wd),
						"analysis.every=" + strconv.Itoa(plan.every)}
					if c.init != "" {
						ov = append(ov, "model.init="+c.init)
					}
					if plan.steps > 0 {
						ov = append(ov, "train.steps="+strconv.Itoa(plan.steps))
					}
					out = append(out, runSpec{label: c.label(wd), config: c.config, overrides: ov})
				}
			}
			return out
		},
		check: checkFalseMinimumNatural,
	}
}

// minDecades is how far ‖W‖ must move over a run (0.1 decade, 26 %) for a fit against it.
const minDecades = 0.1

// initScaleChecks compares the runs that differ only in the BN-fed layers' initial scale at
// their first analysis step, where the networks compute the same function: BatchNorm's
// scale invariance then makes λmax(Σ∇h)·‖W‖² the same for every scale (to the
// BatchNorm ε), which is the 1/‖W‖² law without training in between.
func initScaleChecks(plan naturalPlan, runs map[string]*compare.Run) []Check {
	var ref *naturalCase
	for i, c := range plan.cases {
		if c.init == "he" {
			ref = &plan.cases[i]
		}
	}
	if ref == nil {
		return nil
	}
	var checks []Check
	for _, c := range plan.cases {
		if c.init == "" || c.init == ref.init {
			continue
		}
		ok, text := true, ""
		for _, l := range bnFedLayers {
			_, rn, rl := layerTrace(runs[ref.label(0)], l)
			_, cn, cl := layerTrace(runs[c.label(0)], l)
			if len(rn) == 0 || len(cn) == 0 {
				ok = false
				continue
			}
			scale, ratio := cn[0]/rn[0], (cl[0]*cn[0]*cn[0])/(rl[0]*rn[0]*rn[0])
			ok = ok && math.Abs(ratio-1) < 0.01
			text += fmt.Sprintf("%s: ‖W‖ ×%s, λmax(Σ∇h) ×%s, λmax·‖W‖² ×%s; ", l, g3(scale), g3(cl[0]/rl[0]), g3(ratio))
		}
		checks = append(checks, Check{Claim: fmt.Sprintf("%s vs %s at the first analysis step: λmax(Σ∇h)·‖W‖² is the same (within 1 %%)", c.name, ref.name),
			Values: trimSep(text), Pass: ok})
	}
	return checks
}

// scaleLaw fits log λ = a + b·log ‖W‖ by least squares over the analysis steps where both are
// finite and positive, and returns the slope b (−2 for a scale-invariant layer whose function
// does not change) and the number of points.
func scaleLaw(norms, lams []float64) (slope float64, n int) {
	var sx, sy, sxx, sxy float64
	for i := range norms {
		if !(norms[i] > 0 && lams[i] > 0) || math.IsInf(norms[i], 0) || math.IsInf(lams[i], 0) {
			continue
		}
		x, y := math.Log(norms[i]), math.Log(lams[i])
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
		n++
	}
	den := float64(n)*sxx - sx*sx
	if n < 2 || den == 0 {
		return math.NaN(), n
	}
	return (float64(n)*sxy - sx*sy) / den, n
}

// layerTrace is one layer's ‖W‖ and λmax(Σ∇h) at the analysis steps both were recorded.
func layerTrace(r *compare.Run, layer string) (steps []int, norms, lams []float64) {
	lam := map[int]float64{}
	for _, rec := range r.Series(layer, rundir.FactorGrad) {
		lam[rec.Step] = rec.Value("lambda_max")
	}
	for _, rec := range r.Series(layer, rundir.FactorFisher) {
		if l, ok := lam[rec.Step]; ok {
			steps, norms, lams = append(steps, rec.Step), append(norms, rec.Value("weight_norm")), append(lams, l)
		}
	}
	return steps, norms, lams
}

// logRange is log10(max/min) of the finite positive values: how many decades they span.
func logRange(xs []float64) float64 {
	lo, hi := math.Inf(1), 0.0
	for _, x := range xs {
		if x > 0 && !math.IsInf(x, 0) {
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	if hi == 0 {
		return math.NaN()
	}
	return math.Log10(hi / lo)
}

func checkFalseMinimumNatural(quick bool, runs map[string]*compare.Run) ([]Check, []string, []*compare.Figure) {
	plan := naturalBudget(quick)
	var checks []Check
	var lossRows, layerRows [][]string
	for _, c := range plan.cases {
		lr := c.lr
		nowd := runs[c.label(0)]
		for _, wd := range append([]float64{0}, c.wds...) {
			r := runs[c.label(wd)]
			lossRows = append(lossRows, []string{r.Label, r.StatusText(), g3(quarterLoss(r, 0)), g3(quarterLoss(r, 1)), g3(quarterLoss(r, 2)), g3(quarterLoss(r, 3)),
				g3(float64(r.Summary.Final.TestAccuracy))})
		}
		n2, n4 := quarterLoss(nowd, 1), quarterLoss(nowd, 3)
		checks = append(checks,
			Check{Claim: fmt.Sprintf("%s without weight decay: the loss stalls (last quarter ≥ 0.8 × second quarter and ≥ 1)", c.name),
				Values: fmt.Sprintf("second quarter %s, last quarter %s", g3(n2), g3(n4)), Pass: n4 >= 0.8*n2 && n4 >= 1})
		for _, wd := range c.wds {
			w4 := quarterLoss(runs[c.label(wd)], 3)
			checks = append(checks, Check{Claim: fmt.Sprintf("%s: with weight decay %g the last-quarter loss is < 0.5 × that without", c.name, wd),
				Values: fmt.Sprintf("with %s, without %s", g3(w4), g3(n4)), Pass: w4 < 0.5*n4})
		}
		// ‖W‖ is compared with the run of the strongest weight decay.
		wd := runs[c.label(c.wds[len(c.wds)-1])]
		growOK, lawOK, moved := true, true, true
		var growText, lawText string
		for _, l := range bnFedLayers {
			_, norms, lams := layerTrace(nowd, l)
			_, wnorms, _ := layerTrace(wd, l)
			if len(norms) == 0 || len(wnorms) == 0 {
				growOK, lawOK = false, false
				continue
			}
			w0, wEnd, wdEnd := norms[0], norms[len(norms)-1], wnorms[len(wnorms)-1]
			scaled := make([]float64, len(lams))
			for i := range lams {
				scaled[i] = lams[i] * norms[i] * norms[i]
			}
			// Over a run whose ‖W‖ hardly moves the law has nothing to act on.
			slope := math.NaN()
			if logRange(norms) >= minDecades {
				slope, _ = scaleLaw(norms, lams)
			} else {
				moved = false
			}
			rl, rs := logRange(lams), logRange(scaled)
			growOK = growOK && wEnd > 2*w0 && wEnd > wdEnd
			lawOK = lawOK && rs < rl
			growText += fmt.Sprintf("%s %s → %s (wd %s); ", l, g3(w0), g3(wEnd), g3(wdEnd))
			lawText += fmt.Sprintf("%s: %s vs %s decades, slope %s; ", l, g3(rs), g3(rl), g3(slope))
			layerRows = append(layerRows, []string{c.name, l, g3(w0), g3(wEnd), g3(wdEnd),
				g3(lr / (w0 * w0)), g3(lr / (wEnd * wEnd)), g3(lams[0]), g3(lams[len(lams)-1]), g3(slope), g3(rl), g3(rs)})
		}
		checks = append(checks,
			Check{Claim: fmt.Sprintf("%s without weight decay: ‖W‖ of every BN-fed layer grows (> 2 × step 0, and above the run's with weight decay %g)", c.name, c.wds[len(c.wds)-1]),
				Values: trimSep(growText), Pass: growOK})
		if moved {
			checks = append(checks, Check{Claim: fmt.Sprintf("%s without weight decay: λmax(Σ∇h)·‖W‖² spans fewer decades over training than λmax(Σ∇h) (the 1/‖W‖² law)", c.name),
				Values: trimSep(lawText), Pass: lawOK})
		}
	}
	checks = append(checks, initScaleChecks(plan, runs)...)
	tables := []string{
		mdTable("Loss by quarter of the run (mean mini-batch loss) and final test accuracy", []string{"run", "status", "1st", "2nd", "3rd", "4th", "test accuracy"}, lossRows),
		mdTable("BN-fed layers of the runs without weight decay: ‖W‖, effective learning rate η/‖W‖² and λmax(Σ∇h), first and last analysis step; "+
			"slope of log λmax(Σ∇h) against log ‖W‖ over training; decades spanned by λmax(Σ∇h) and by λmax(Σ∇h)·‖W‖²",
			[]string{"case", "layer", "‖W‖ first", "‖W‖ last", "‖W‖ last, strongest wd", "η/‖W‖² first", "η/‖W‖² last", "λmax(Σ∇h) first", "λmax(Σ∇h) last",
				"slope", "decades λ", "decades λ‖W‖²"}, layerRows),
	}
	return checks, tables, []*compare.Figure{naturalFigure(plan, runs)}
}

// naturalFigure shows, for fc2, the loss, ‖W‖, λmax(Σ∇h) and λmax(Σ∇h)·‖W‖² of every run.
func naturalFigure(plan naturalPlan, runs map[string]*compare.Run) *compare.Figure {
	f := &compare.Figure{Name: "reproduce_false_minimum_natural", Title: "Large learning rate or large initial weights under BN: fc2, with and without weight decay",
		Cols: 4, Width: 16, Height: 4.2}
	loss := compare.Panel{Title: "training loss (mean over 50 steps)", XLabel: "step", LogY: true, IntX: true}
	// A dead network's ‖W‖ decays to 1e-38 under weight decay; the axis stops at 0.1.
	norm := compare.Panel{Title: "||W|| of fc2", XLabel: "step", LogY: true, IntX: true, YMin: 0.1}
	curv := compare.Panel{Title: "lmax(Σ∇h) of fc2", XLabel: "step", LogY: true, IntX: true}
	law := compare.Panel{Title: "lmax(Σ∇h)·||W||² of fc2", XLabel: "step", LogY: true, IntX: true}
	i := 0
	for _, c := range plan.cases {
		for _, wd := range append([]float64{0}, c.wds...) {
			r := runs[c.label(wd)]
			s := compare.Series{Label: r.Label, Color: i}
			s = smoothedLoss(r, s, 50, 10)
			loss.Series = append(loss.Series, s)
			steps, norms, lams := layerTrace(r, "fc2")
			sn, sc, sl := compare.Series{Label: r.Label, Color: i}, compare.Series{Label: r.Label, Color: i}, compare.Series{Label: r.Label, Color: i}
			for k, st := range steps {
				x := float64(st)
				sn.X, sn.Y = append(sn.X, x), append(sn.Y, norms[k])
				sc.X, sc.Y = append(sc.X, x), append(sc.Y, lams[k])
				sl.X, sl.Y = append(sl.X, x), append(sl.Y, lams[k]*norms[k]*norms[k])
			}
			norm.Series, curv.Series, law.Series = append(norm.Series, sn), append(curv.Series, sc), append(law.Series, sl)
			i++
		}
	}
	f.Panels = []compare.Panel{loss, norm, curv, law}
	return f
}
