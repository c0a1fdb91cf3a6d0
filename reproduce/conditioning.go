package reproduce

import (
	"fmt"
	"math"
	"strconv"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/rundir"
)

// conditioningP is the fraction of the κ_p the checks use.
const conditioningP = 0.5

func conditioningBudget(quick bool) (steps, every, batch int) {
	if quick {
		return 300, 50, 2048
	}
	return 1407, 100, 4096 // 3 epochs
}

func conditioningExperiment() *experiment {
	return &experiment{
		name:  "bn-conditioning",
		title: "BatchNorm improves layer-wise conditioning: MNIST MLP at lr 0.1, BN vs plain",
		runs: func(quick bool) []runSpec {
			steps, every, batch := conditioningBudget(quick)
			var out []runSpec
			for _, norm := range []string{"none", "batchnorm"} {
				out = append(out, runSpec{label: map[string]string{"none": "plain", "batchnorm": "bn"}[norm], config: "mnist_mlp.yaml",
					overrides: []string{"model.norm=" + norm, "optim.lr=0.1", "train.steps=" + strconv.Itoa(steps),
						"analysis.every=" + strconv.Itoa(every), "analysis.source=fixed", "analysis.batch_size=" + strconv.Itoa(batch)}})
			}
			return out
		},
		check:       checkConditioning,
		compareOpts: func(bool) compare.Options { return compare.Options{P: conditioningP} },
	}
}

// geoMeanKappa is the geometric mean of κ_p over a run's analysis steps, leaving out records
// whose numerical rank is below ⌈p·d⌉ (κ_p then divides by round-off). It also returns how
// many records were used and how many left out.
func geoMeanKappa(r *compare.Run, layer, factor string, p float64) (mean float64, used, dropped int) {
	key := "kappa_p" + strconv.FormatFloat(p, 'g', -1, 64)
	sum := 0.0
	for _, rec := range r.Series(layer, factor) {
		d, rank, v := rec.Value("dim"), rec.Value("numerical_rank"), rec.Value(key)
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || rank < math.Ceil(p*d) {
			dropped++
			continue
		}
		sum += math.Log(v)
		used++
	}
	if used == 0 {
		return math.NaN(), 0, dropped
	}
	return math.Exp(sum / float64(used)), used, dropped
}

func checkConditioning(quick bool, runs map[string]*compare.Run) ([]Check, []string, []*compare.Figure) {
	plain, bn := runs["plain"], runs["bn"]
	var rows [][]string
	var checks []Check
	better, total := 0, 0
	for _, f := range []string{rundir.FactorX, rundir.FactorGrad} {
		for _, l := range mlpLayers {
			row := []string{l, map[string]string{rundir.FactorX: "Σx", rundir.FactorGrad: "Σ∇h"}[f]}
			for _, p := range []float64{0.2, 0.5, 0.8} {
				kp, _, _ := geoMeanKappa(plain, l, f, p)
				kb, _, _ := geoMeanKappa(bn, l, f, p)
				row = append(row, g3(kp), g3(kb))
			}
			kp, up, dp := geoMeanKappa(plain, l, f, conditioningP)
			kb, ub, db := geoMeanKappa(bn, l, f, conditioningP)
			row = append(row, fmt.Sprintf("%d/%d", up, up+dp), fmt.Sprintf("%d/%d", ub, ub+db))
			rows = append(rows, row)
			if f == rundir.FactorX && l == "fc1" {
				continue // the data itself: the same matrix for both networks
			}
			if math.IsNaN(kp) || math.IsNaN(kb) {
				continue
			}
			total++
			if kb < kp {
				better++
			}
			checks = append(checks, Check{
				Claim:  fmt.Sprintf("BN's κ_%g of %s %s is smaller", conditioningP, l, row[1]),
				Values: fmt.Sprintf("geometric mean over training: plain %s, BN %s", g3(kp), g3(kb)),
				Pass:   kb < kp,
			})
		}
	}
	overall := Check{
		Claim:  fmt.Sprintf("BN improves layer-wise conditioning (κ_%g smaller in most layer factors, fc1's Σx aside)", conditioningP),
		Values: fmt.Sprintf("BN smaller in %d of %d", better, total),
		Pass:   total > 0 && 2*better > total,
	}
	checks = append([]Check{overall}, checks...)
	tables := []string{mdTable("Geometric mean over analysis steps of κ_p (fixed analysis sample; records with numerical rank < ⌈p·d⌉ left out)",
		[]string{"layer", "factor", "κ0.2 plain", "κ0.2 BN", "κ0.5 plain", "κ0.5 BN", "κ0.8 plain", "κ0.8 BN",
			"κ0.5 records used plain", "κ0.5 records used BN"}, rows)}
	return checks, tables, []*compare.Figure{conditioningFigure(plain, bn)}
}

// conditioningFigure draws κ_p of Σx and Σ∇h of every layer over training, BN vs plain.
func conditioningFigure(plain, bn *compare.Run) *compare.Figure {
	key := "kappa_p" + strconv.FormatFloat(conditioningP, 'g', -1, 64)
	f := &compare.Figure{Name: "reproduce_bn_conditioning", Title: fmt.Sprintf("kappa_%g over training, BN vs plain", conditioningP),
		Cols: 4, Width: 14, Height: 6.5}
	for _, fac := range []string{rundir.FactorX, rundir.FactorGrad} {
		for _, l := range mlpLayers {
			p := compare.Panel{Title: l + " " + map[string]string{rundir.FactorX: "Σx", rundir.FactorGrad: "Σ∇h"}[fac], XLabel: "step", LogY: true}
			for i, r := range []*compare.Run{plain, bn} {
				s := compare.Series{Label: []string{"plain", "BN"}[i], Color: i, Points: true}
				for _, rec := range r.Series(l, fac) {
					s.X, s.Y = append(s.X, float64(rec.Step)), append(s.Y, rec.Value(key))
				}
				p.Series = append(p.Series, s)
			}
			f.Panels = append(f.Panels, p)
		}
	}
	return f
}
