package reproduce

import (
	"fmt"
	"math"
	"strconv"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/rundir"
)

// trainedLoss is the mean mini-batch loss over the last tenth of a run below which the run
// counts as having trained (chance level is ln 10 ≈ 2.30).
const trainedLoss = 0.5

var mlpLayers = []string{"fc1", "fc2", "fc3", "fc4"}

func stabilityGrid(quick bool) (lrs []float64, steps, every, early int) {
	if quick {
		return []float64{0.05, 0.1, 0.2, 0.5, 1, 2}, 300, 25, 100
	}
	return []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10}, 936, 50, 200
}

func stabilityLabel(norm string, lr float64) string {
	n := "plain"
	if norm == "batchnorm" {
		n = "bn"
	}
	return n + "_lr" + strconv.FormatFloat(lr, 'g', -1, 64)
}

func stabilityExperiment() *experiment {
	return &experiment{
		name:  "bn-stability",
		title: "BatchNorm stabilises training: MNIST MLP, BN vs plain over learning rates",
		runs:  stabilityRuns,
		check: checkStability,
	}
}

// stabilityRuns are the full-length runs of the learning-rate grid, plain and BN.
func stabilityRuns(quick bool) []runSpec {
	lrs, steps, every, _ := stabilityGrid(quick)
	var out []runSpec
	for _, norm := range []string{"none", "batchnorm"} {
		for _, lr := range lrs {
			out = append(out, runSpec{label: stabilityLabel(norm, lr), config: "mnist_mlp.yaml", overrides: []string{
				"model.norm=" + norm, "optim.lr=" + strconv.FormatFloat(lr, 'g', -1, 64),
				"train.steps=" + strconv.Itoa(steps), "analysis.every=" + strconv.Itoa(every)}})
		}
	}
	return out
}

func checkStability(quick bool, runs map[string]*compare.Run) ([]Check, []string, []*compare.Figure) {
	lrs, _, _, early := stabilityGrid(quick)
	norms := []string{"none", "batchnorm"}
	name := map[string]string{"none": "plain", "batchnorm": "BN"}
	// Largest rate that trains (no divergence, final loss below trainedLoss) and largest that
	// does not diverge; the smallest that diverges.
	trains, survives, firstDiv := map[string]float64{}, map[string]float64{}, map[string]float64{}
	var rows [][]string
	for _, norm := range norms {
		firstDiv[norm] = math.NaN()
		for _, lr := range lrs {
			r := runs[stabilityLabel(norm, lr)]
			fl := finalLoss(r)
			diverged := r.Summary.Status == rundir.StatusDiverged
			if !diverged {
				survives[norm] = lr
				if fl < trainedLoss {
					trains[norm] = lr
				}
			} else if math.IsNaN(firstDiv[norm]) {
				firstDiv[norm] = lr
			}
			row := []string{name[norm], g3(lr), r.StatusText(), g3(fl)}
			maxRatio := math.Inf(-1)
			for _, l := range mlpLayers {
				maxRatio = math.Max(maxRatio, valueAt(r, l, rundir.FactorFisher, "stability_ratio", 0))
			}
			row = append(row, g3(maxRatio))
			rows = append(rows, row)
		}
	}
	tables := []string{mdTable("Learning-rate grid (final loss: mean mini-batch loss over the last tenth of the steps)",
		[]string{"net", "lr", "status", "final loss", "max over layers of η·λmax(F)/(2(1+μ)) at step 0"}, rows)}

	var checks []Check
	checks = append(checks, Check{
		Claim:  fmt.Sprintf("BN trains at larger learning rates (largest lr with final loss < %g)", trainedLoss),
		Values: fmt.Sprintf("plain %s, BN %s (grid %v)", lrText(trains, "none"), lrText(trains, "batchnorm"), lrs),
		Pass:   trains["batchnorm"] > trains["none"],
	})
	checks = append(checks, Check{
		Claim: "BN survives larger learning rates (largest lr without NaN/Inf loss)",
		Values: fmt.Sprintf("plain %s (first diverging %s), BN %s (first diverging %s)", lrText(survives, "none"),
			g3(firstDiv["none"]), lrText(survives, "batchnorm"), g3(firstDiv["batchnorm"])),
		Pass: survives["batchnorm"] > survives["none"],
	})

	// λmax of Σx and F per layer: at step 0 (before any update, so the same for every lr of a
	// norm) and averaged over the early analysis steps at the largest rate of the grid that
	// both networks train with.
	ref := lrs[0]
	for _, lr := range lrs {
		if lr <= trains["none"] && lr <= trains["batchnorm"] {
			ref = lr // the largest rate both train with
		}
	}
	var lrows [][]string
	at0 := map[string]map[string]float64{}
	avg := map[string]map[string]float64{}
	for _, norm := range norms {
		r := runs[stabilityLabel(norm, ref)]
		at0[norm], avg[norm] = map[string]float64{}, map[string]float64{}
		for _, l := range mlpLayers {
			row := []string{name[norm], l}
			for _, f := range []string{rundir.FactorX, rundir.FactorFisher} {
				v0 := valueAt(r, l, f, "lambda_max", 0)
				va := meanOver(r, l, f, "lambda_max", 0, early)
				row = append(row, g3(v0), g3(va))
				if f == rundir.FactorFisher {
					at0[norm][l], avg[norm][l] = v0, va
				}
			}
			lrows = append(lrows, row)
		}
	}
	tables = append(tables, mdTable(fmt.Sprintf("λmax per layer at lr %g (step 0, and mean over analysis steps 0–%d)", ref, early),
		[]string{"net", "layer", "λmax(Σx) step 0", "λmax(Σx) mean", "λmax(F) step 0", "λmax(F) mean"}, lrows))
	checks = append(checks, Check{
		Claim: "without BN the lowest layer's λmax(F) is larger, at step 0",
		Values: fmt.Sprintf("fc1: plain %s, BN %s (fc2: plain %s, BN %s)", g3(at0["none"]["fc1"]), g3(at0["batchnorm"]["fc1"]),
			g3(at0["none"]["fc2"]), g3(at0["batchnorm"]["fc2"])),
		Pass: at0["none"]["fc1"] > at0["batchnorm"]["fc1"],
	})
	checks = append(checks, Check{
		Claim: fmt.Sprintf("without BN the lowest layer's λmax(F) is larger, mean over steps 0–%d at lr %g", early, ref),
		Values: fmt.Sprintf("fc1: plain %s, BN %s (fc2: plain %s, BN %s)", g3(avg["none"]["fc1"]), g3(avg["batchnorm"]["fc1"]),
			g3(avg["none"]["fc2"]), g3(avg["batchnorm"]["fc2"])),
		Pass: avg["none"]["fc1"] > avg["batchnorm"]["fc1"],
	})
	// The stability threshold: at the plain network's first diverging rate, η·λmax(F) of some
	// layer exceeds 2(1+μ) already at step 0.
	if lr := firstDiv["none"]; !math.IsNaN(lr) {
		r := runs[stabilityLabel("none", lr)]
		worst, ratio := "", math.Inf(-1)
		for _, l := range mlpLayers {
			if v := valueAt(r, l, rundir.FactorFisher, "stability_ratio", 0); v > ratio {
				worst, ratio = l, v
			}
		}
		checks = append(checks, Check{
			Claim:  "the plain network diverges where η·λmax(F) crosses the threshold 2(1+μ)",
			Values: fmt.Sprintf("at its first diverging lr %g the largest η·λmax(F)/(2(1+μ)) at step 0 is %s (%s)", lr, g3(ratio), worst),
			Pass:   ratio > 1,
		})
	} else {
		checks = append(checks, Check{Claim: "the plain network diverges where η·λmax(F) crosses the threshold 2(1+μ)",
			Values: "the plain network diverged at no rate of the grid", Pass: false})
	}
	return checks, tables, []*compare.Figure{stabilityFigure(runs, lrs)}
}

func lrText(m map[string]float64, norm string) string {
	if v, ok := m[norm]; ok {
		return g3(v)
	}
	return "none in the grid"
}

// stabilityFigure plots the final loss and the step-0 λmax(F) of fc1 against the learning
// rate for both networks.
func stabilityFigure(runs map[string]*compare.Run, lrs []float64) *compare.Figure {
	f := &compare.Figure{Name: "reproduce_bn_stability", Title: "BN vs plain over learning rates", Cols: 2, Width: 10, Height: 4}
	loss := compare.Panel{Title: "final training loss (diverged: not drawn)", XLabel: "log10 learning rate", LogY: true}
	ratio := compare.Panel{Title: "max over layers of lr*lmax(F)/(2(1+mu)), step 0", XLabel: "log10 learning rate", LogY: true}
	for i, norm := range []string{"none", "batchnorm"} {
		label := map[string]string{"none": "plain", "batchnorm": "BN"}[norm]
		sl := compare.Series{Label: label, Color: i, Points: true}
		sr := compare.Series{Label: label, Color: i, Points: true}
		for _, lr := range lrs {
			r := runs[stabilityLabel(norm, lr)]
			sl.X, sl.Y = append(sl.X, math.Log10(lr)), append(sl.Y, finalLoss(r))
			m := math.Inf(-1)
			for _, l := range mlpLayers {
				m = math.Max(m, valueAt(r, l, rundir.FactorFisher, "stability_ratio", 0))
			}
			sr.X, sr.Y = append(sr.X, math.Log10(lr)), append(sr.Y, m)
		}
		loss.Series, ratio.Series = append(loss.Series, sl), append(ratio.Series, sr)
	}
	f.Panels = []compare.Panel{loss, ratio}
	return f
}
