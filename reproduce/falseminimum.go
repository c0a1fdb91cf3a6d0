package reproduce

import (
	"fmt"
	"strconv"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/rundir"
)

// bnFedLayers are the MLP's layers whose outputs feed a BatchNorm: scale-invariant, so their
// curvature falls as 1/‖W‖².
var bnFedLayers = []string{"fc1", "fc2", "fc3"}

// falseMinimumWD is the weight decay of the control run.
const falseMinimumWD = 1e-3

func falseMinimumBudget(quick bool) (steps, every int) {
	if quick {
		return 600, 25
	}
	return 2000, 50
}

func falseMinimumExperiment() *experiment {
	return &experiment{
		name:  "false-minimum",
		title: "BatchNorm's false impression of a local minimum, stress test: weights pumped up by a burst of lr 20, with and without weight decay",
		runs: func(quick bool) []runSpec {
			steps, every := falseMinimumBudget(quick)
			common := []string{"train.steps=" + strconv.Itoa(steps), "analysis.every=" + strconv.Itoa(every)}
			return []runSpec{
				{label: "no_wd", config: "mnist_false_minimum.yaml", overrides: append([]string{"optim.weight_decay=0"}, common...)},
				{label: "wd", config: "mnist_false_minimum.yaml", overrides: append([]string{"optim.weight_decay=" + strconv.FormatFloat(falseMinimumWD, 'g', -1, 64)}, common...)},
			}
		},
		check: checkFalseMinimum,
	}
}

func checkFalseMinimum(quick bool, runs map[string]*compare.Run) ([]Check, []string, []*compare.Figure) {
	nowd, wd := runs["no_wd"], runs["wd"]
	var checks []Check
	n2, n4 := quarterLoss(nowd, 1), quarterLoss(nowd, 3)
	w2, w4 := quarterLoss(wd, 1), quarterLoss(wd, 3)
	diverged := nowd.Summary.Status == rundir.StatusDiverged || wd.Summary.Status == rundir.StatusDiverged
	checks = append(checks, Check{
		Claim: "without weight decay the loss stalls (last-quarter loss ≥ 0.8 × second-quarter loss and ≥ 1)",
		Values: fmt.Sprintf("no wd: second quarter %s, last quarter %s; with wd %g: %s → %s", g3(n2), g3(n4),
			falseMinimumWD, g3(w2), g3(w4)),
		Pass: !diverged && n4 >= 0.8*n2 && n4 >= 1,
	})
	checks = append(checks, Check{
		Claim:  "with weight decay training goes on (last-quarter loss < 0.5 × that without)",
		Values: fmt.Sprintf("with wd %s, without %s", g3(w4), g3(n4)),
		Pass:   !diverged && w4 < 0.5*n4,
	})
	var rows [][]string
	normOK, curvOK, gradOK := true, true, true
	var normText, curvText, gradText string
	for _, l := range bnFedLayers {
		wn0, wnEnd := valueAt(nowd, l, rundir.FactorFisher, "weight_norm", 0), lastValue(nowd, l, rundir.FactorFisher, "weight_norm")
		wdEnd := lastValue(wd, l, rundir.FactorFisher, "weight_norm")
		g0, gEnd := valueAt(nowd, l, rundir.FactorGrad, "lambda_max", 0), lastValue(nowd, l, rundir.FactorGrad, "lambda_max")
		gwd := lastValue(wd, l, rundir.FactorGrad, "lambda_max")
		gn0, gnEnd := valueAt(nowd, l, rundir.FactorFisher, "grad_norm", 0), lastValue(nowd, l, rundir.FactorFisher, "grad_norm")
		gnwd := lastValue(wd, l, rundir.FactorFisher, "grad_norm")
		normOK = normOK && wnEnd > 2*wn0 && wnEnd > wdEnd
		curvOK = curvOK && gEnd < 0.1*g0 && gEnd < gwd
		gradOK = gradOK && gnEnd < gn0 && gnEnd < gnwd
		normText += fmt.Sprintf("%s %s → %s (wd: %s); ", l, g3(wn0), g3(wnEnd), g3(wdEnd))
		curvText += fmt.Sprintf("%s %s → %s (wd: %s); ", l, g3(g0), g3(gEnd), g3(gwd))
		gradText += fmt.Sprintf("%s %s → %s (wd: %s); ", l, g3(gn0), g3(gnEnd), g3(gnwd))
		rows = append(rows, []string{l, g3(wn0), g3(wnEnd), g3(wdEnd), g3(g0), g3(gEnd), g3(gwd), g3(gn0), g3(gnEnd), g3(gnwd)})
	}
	checks = append(checks,
		Check{Claim: "without weight decay ‖W‖ grows (last > 2 × step 0, and > with wd) in every BN-fed layer",
			Values: trimSep(normText), Pass: normOK},
		Check{Claim: "without weight decay λmax(Σ∇h) shrinks (last < 0.1 × step 0, and < with wd) in every BN-fed layer",
			Values: trimSep(curvText), Pass: curvOK},
		Check{Claim: "without weight decay ‖∂L/∂W‖ shrinks (last < step 0, and < with wd) in every BN-fed layer",
			Values: trimSep(gradText), Pass: gradOK})
	tables := []string{
		mdTable("Loss by quarter of the run (mean mini-batch loss)", []string{"run", "1st", "2nd", "3rd", "4th"}, [][]string{
			{"no wd", g3(quarterLoss(nowd, 0)), g3(n2), g3(quarterLoss(nowd, 2)), g3(n4)},
			{fmt.Sprintf("wd %g", falseMinimumWD), g3(quarterLoss(wd, 0)), g3(w2), g3(quarterLoss(wd, 2)), g3(w4)}}),
		mdTable("BN-fed layers: step 0 and last analysis step", []string{"layer", "‖W‖ step 0", "‖W‖ last, no wd", "‖W‖ last, wd",
			"λmax(Σ∇h) step 0", "λmax(Σ∇h) last, no wd", "λmax(Σ∇h) last, wd", "‖∇W‖ step 0", "‖∇W‖ last, no wd", "‖∇W‖ last, wd"}, rows),
	}
	return checks, tables, []*compare.Figure{falseMinimumFigure(nowd, wd)}
}

func trimSep(s string) string {
	if len(s) >= 2 {
		return s[:len(s)-2]
	}
	return s
}

// falseMinimumFigure shows the loss, ‖W‖ and λmax(Σ∇h) of the BN-fed layers over training.
func falseMinimumFigure(nowd, wd *compare.Run) *compare.Figure {
	f := &compare.Figure{Name: "reproduce_false_minimum", Title: "False local minimum under BN: no weight decay vs weight decay",
		Cols: 3, Width: 14, Height: 4.2}
	loss := compare.Panel{Title: "training loss (mean over 20 steps)", XLabel: "step", LogY: true}
	norm := compare.Panel{Title: "||W|| of fc1-fc3", XLabel: "step", LogY: true}
	curv := compare.Panel{Title: "lmax(Σ∇h) of fc1-fc3", XLabel: "step", LogY: true}
	for i, r := range []*compare.Run{nowd, wd} {
		name := []string{"no wd", fmt.Sprintf("wd %g", falseMinimumWD)}[i]
		s := compare.Series{Label: name, Color: i}
		s = smoothedLoss(r, s, 20, 5)
		loss.Series = append(loss.Series, s)
		for k, l := range bnFedLayers {
			sn := compare.Series{Label: name + " " + l, Color: 2*k + i}
			sc := compare.Series{Label: name + " " + l, Color: 2*k + i}
			for _, rec := range r.Series(l, rundir.FactorFisher) {
				sn.X, sn.Y = append(sn.X, float64(rec.Step)), append(sn.Y, rec.Value("weight_norm"))
			}
			for _, rec := range r.Series(l, rundir.FactorGrad) {
				sc.X, sc.Y = append(sc.X, float64(rec.Step)), append(sc.Y, rec.Value("lambda_max"))
			}
			norm.Series, curv.Series = append(norm.Series, sn), append(curv.Series, sc)
		}
	}
	// Keep the labels' colors apart from the loss panel's two.
	for i := range norm.Series {
		norm.Series[i].Color += 2
		curv.Series[i].Color += 2
	}
	f.Panels = []compare.Panel{loss, norm, curv}
	return f
}
