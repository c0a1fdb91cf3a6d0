package reproduce

import (
	"fmt"
	"strconv"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/rundir"
)

var resnetForms = []string{"original", "lastbn", "preact"}

// lastLayerP is the fraction of the κ_p the checks use.
const lastLayerP = 0.5

type lastLayerPlan struct {
	depths   []int
	accDepth int // depth of the accuracy runs; 0: none
	accSteps int
}

func lastLayerBudget(quick bool) lastLayerPlan {
	if quick {
		return lastLayerPlan{depths: []int{8, 14, 20}}
	}
	// The accuracy runs: one epoch (390 steps) of each form at depth 32 (lastbn took 647 s here).
	return lastLayerPlan{depths: []int{8, 20, 32, 56, 110}, accDepth: 32, accSteps: 390}
}

func depthLabel(form string, depth int) string { return fmt.Sprintf("%s_d%d", form, depth) }
func accLabel(form string, depth int) string   { return fmt.Sprintf("acc_%s_d%d", form, depth) }

func lastLayerExperiment() *experiment {
	return &experiment{
		name:  "last-layer",
		title: "The last linear layer of deep post-activation ResNets: Σx of the classifier vs depth",
		runs: func(quick bool) []runSpec {
			plan := lastLayerBudget(quick)
			var out []runSpec
			for _, d := range plan.depths {
				for _, form := range resnetForms {
					// One step: the analysis at step 0, on the fixed sample, before any update.
					// The test set is cut to a small sample to keep the closing evaluation
					// cheap; the accuracy of these runs is not used.
					out = append(out, runSpec{label: depthLabel(form, d), config: "cifar10_resnet_lastlayer.yaml",
						overrides: []string{"model.form=" + form, "model.depth=" + strconv.Itoa(d), "train.steps=1",
							"analysis.every=1", "data.test_limit=100", "data.eval_batch_size=100"}})
				}
			}
			if plan.accDepth > 0 {
				for _, form := range []string{"original", "lastbn"} {
					out = append(out, runSpec{label: accLabel(form, plan.accDepth), config: "cifar10_resnet_lastlayer.yaml",
						overrides: []string{"model.form=" + form, "model.depth=" + strconv.Itoa(plan.accDepth),
							"train.steps=" + strconv.Itoa(plan.accSteps), "analysis.every=50"}})
				}
			}
			return out
		},
		check:       checkLastLayer,
		compareOpts: func(bool) compare.Options { return compare.Options{P: lastLayerP, Targets: []int{0}} },
	}
}

func checkLastLayer(quick bool, runs map[string]*compare.Run) ([]Check, []string, []*compare.Figure) {
	plan := lastLayerBudget(quick)
	key := "kappa_p" + strconv.FormatFloat(lastLayerP, 'g', -1, 64)
	lam, kap := map[string][]float64{}, map[string][]float64{}
	var rows [][]string
	for _, d := range plan.depths {
		row := []string{strconv.Itoa(d)}
		for _, form := range resnetForms {
			r := runs[depthLabel(form, d)]
			l := valueAt(r, "fc", rundir.FactorX, "lambda_max", 0)
			k := valueAt(r, "fc", rundir.FactorX, key, 0)
			lam[form], kap[form] = append(lam[form], l), append(kap[form], k)
			row = append(row, g3(l), g3(k))
		}
		rows = append(rows, row)
	}
	tables := []string{mdTable(fmt.Sprintf("Classifier fc: Σx at step 0 (fixed sample) by depth; κ_p with p = %g", lastLayerP),
		[]string{"depth", "λmax original", "κ original", "λmax lastbn", "κ lastbn", "λmax preact", "κ preact"}, rows)}
	n := len(plan.depths)
	first, last := plan.depths[0], plan.depths[n-1]
	growth := func(xs []float64) float64 { return xs[n-1] / xs[0] }
	monotone := func(xs []float64) bool {
		for i := 1; i < len(xs); i++ {
			if !(xs[i] >= xs[i-1]) {
				return false
			}
		}
		return true
	}
	var checks []Check
	checks = append(checks, Check{
		Claim: "original ResNet: λmax(Σx) of the classifier grows with depth (monotone over the depths)",
		Values: fmt.Sprintf("depths %v: %s (×%s from %d to %d)", plan.depths, list(lam["original"]), g3(growth(lam["original"])),
			first, last),
		Pass: monotone(lam["original"]) && growth(lam["original"]) > 1,
	})
	checks = append(checks, Check{
		Claim:  "original ResNet: κ_p(Σx) of the classifier grows with depth (deepest > shallowest)",
		Values: fmt.Sprintf("depths %v: %s", plan.depths, list(kap["original"])),
		Pass:   growth(kap["original"]) > 1,
	})
	checks = append(checks, Check{
		Claim: fmt.Sprintf("at depth %d lastbn and preact bound λmax(Σx) below the original's", last),
		Values: fmt.Sprintf("original %s, lastbn %s, preact %s", g3(lam["original"][n-1]), g3(lam["lastbn"][n-1]),
			g3(lam["preact"][n-1])),
		Pass: lam["lastbn"][n-1] < lam["original"][n-1] && lam["preact"][n-1] < lam["original"][n-1],
	})
	checks = append(checks, Check{
		Claim: fmt.Sprintf("lastbn's λmax(Σx) grows less with depth than the original's (%d → %d)", first, last),
		Values: fmt.Sprintf("growth original ×%s, lastbn ×%s, preact ×%s", g3(growth(lam["original"])),
			g3(growth(lam["lastbn"])), g3(growth(lam["preact"]))),
		Pass: growth(lam["lastbn"]) < growth(lam["original"]),
	})
	checks = append(checks, Check{
		Claim: fmt.Sprintf("at depth %d lastbn's κ_p(Σx) is below the original's", last),
		Values: fmt.Sprintf("original %s, lastbn %s, preact %s", g3(kap["original"][n-1]), g3(kap["lastbn"][n-1]),
			g3(kap["preact"][n-1])),
		Pass: kap["lastbn"][n-1] < kap["original"][n-1],
	})
	if plan.accDepth > 0 {
		o, b := runs[accLabel("original", plan.accDepth)], runs[accLabel("lastbn", plan.accDepth)]
		oa, ba := float64(o.Summary.Final.TestAccuracy), float64(b.Summary.Final.TestAccuracy)
		checks = append(checks, Check{
			Claim: fmt.Sprintf("lastbn reaches a higher test accuracy than the original at depth %d after %d steps",
				plan.accDepth, plan.accSteps),
			Values: fmt.Sprintf("original %s (%s), lastbn %s (%s), full test set", g3(oa), o.StatusText(), g3(ba), b.StatusText()),
			Pass:   ba > oa,
		})
		tables = append(tables, mdTable(fmt.Sprintf("Test accuracy at depth %d after %d steps (10 000 test images)", plan.accDepth, plan.accSteps),
			[]string{"form", "status", "final loss", "test accuracy", "λmax(Σx) fc, last analysis", "κ fc, last analysis"},
			[][]string{
				{"original", o.StatusText(), g3(finalLoss(o)), g3(oa), g3(lastValue(o, "fc", rundir.FactorX, "lambda_max")), g3(lastValue(o, "fc", rundir.FactorX, key))},
				{"lastbn", b.StatusText(), g3(finalLoss(b)), g3(ba), g3(lastValue(b, "fc", rundir.FactorX, "lambda_max")), g3(lastValue(b, "fc", rundir.FactorX, key))},
			}))
	}
	return checks, tables, []*compare.Figure{lastLayerFigure(plan.depths, lam, kap)}
}

func list(xs []float64) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ", "
		}
		s += g3(x)
	}
	return s
}

func lastLayerFigure(depths []int, lam, kap map[string][]float64) *compare.Figure {
	f := &compare.Figure{Name: "reproduce_last_layer", Title: "Classifier input Σx vs depth (step 0)", Cols: 2, Width: 10, Height: 4}
	pl := compare.Panel{Title: "lmax(Σx) of fc", XLabel: "depth", LogY: true}
	pk := compare.Panel{Title: fmt.Sprintf("kappa_%g(Σx) of fc", lastLayerP), XLabel: "depth", LogY: true}
	for i, form := range resnetForms {
		sl := compare.Series{Label: form, Color: i, Points: true}
		sk := compare.Series{Label: form, Color: i, Points: true}
		for j, d := range depths {
			sl.X, sl.Y = append(sl.X, float64(d)), append(sl.Y, lam[form][j])
			sk.X, sk.Y = append(sk.X, float64(d)), append(sk.Y, kap[form][j])
		}
		pl.Series, pk.Series = append(pl.Series, sl), append(pk.Series, sk)
	}
	f.Panels = []compare.Panel{pl, pk}
	return f
}
