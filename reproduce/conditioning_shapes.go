package reproduce

import (
	"fmt"
	"math"
	"strconv"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/rundir"
)

// mlpShape is one MLP of the shape study: depth linear layers of width units each.
type mlpShape struct{ width, depth int }

func (s mlpShape) String() string { return fmt.Sprintf("w%d_d%d", s.width, s.depth) }

func (s mlpShape) layers() []string {
	out := make([]string, s.depth)
	for i := range out {
		out[i] = "fc" + strconv.Itoa(i+1)
	}
	return out
}

// middle reports whether layer i (0-based) takes a hidden input and feeds a hidden output:
// the layers whose Σ∇h the width-256 study found worse with BN.
func (s mlpShape) middle(i int) bool { return i > 0 && i < s.depth-1 }

// conditioningShapes are the widths and depths beside the base study's width 256, depth 4;
// the costly width 1024 last.
var conditioningShapes = []mlpShape{{128, 4}, {256, 8}, {1024, 4}}

// shapesBudget is the base study's (2 epochs: mnist_mlp.yaml's epochs bound train.steps) with
// half as many analyses on a sample of 2048, which still exceeds every layer's width twice.
func shapesBudget(quick bool) (steps, every, batch int) {
	if quick {
		return 300, 100, 2048 // three analyses; with seven it took 1000 s on the loaded machine
	}
	return 936, 234, 2048
}

var conditioningSeeds = []int{1, 2}

var normLabels = map[string]string{"none": "plain", "batchnorm": "bn"}

func shapeLabel(s mlpShape, seed int, norm string) string {
	return fmt.Sprintf("%s_s%d_%s", s, seed, normLabels[norm])
}

func conditioningShapesExperiment() *experiment {
	return &experiment{
		name:  "bn-conditioning-shapes",
		title: "BatchNorm and layer-wise conditioning at MLP widths 128 and 1024 and depth 8, two seeds",
		runs: func(quick bool) []runSpec {
			steps, every, batch := shapesBudget(quick)
			var out []runSpec
			for _, sh := range conditioningShapes {
				for _, seed := range conditioningSeeds {
					for _, norm := range []string{"none", "batchnorm"} {
						out = append(out, runSpec{label: shapeLabel(sh, seed, norm), config: "mnist_mlp.yaml",
							overrides: []string{"seed=" + strconv.Itoa(seed), "model.width=" + strconv.Itoa(sh.width),
								"model.depth=" + strconv.Itoa(sh.depth), "model.norm=" + norm, "optim.lr=0.1",
								"train.steps=" + strconv.Itoa(steps), "analysis.every=" + strconv.Itoa(every),
								"analysis.source=fixed", "analysis.batch_size=" + strconv.Itoa(batch)}})
					}
				}
			}
			return out
		},
		check:       checkConditioningShapes,
		compareOpts: func(bool) compare.Options { return compare.Options{P: conditioningP} },
	}
}

// kappaRatio is BN's over the plain network's geometric-mean κ_p of one layer factor.
func kappaRatio(plain, bn *compare.Run, layer, factor string) float64 {
	kp, _, _ := geoMeanKappa(plain, layer, factor, conditioningP)
	kb, _, _ := geoMeanKappa(bn, layer, factor, conditioningP)
	return kb / kp
}

func checkConditioningShapes(quick bool, runs map[string]*compare.Run) ([]Check, []string, []*compare.Figure) {
	var checks []Check
	var rows [][]string
	fig := &compare.Figure{Name: "reproduce_bn_conditioning_shapes",
		Title: fmt.Sprintf("BN / plain geometric-mean kappa_%g per layer, by MLP shape and seed", conditioningP),
		Cols:  len(conditioningShapes), Width: 15, Height: 4.2}
	for _, sh := range conditioningShapes {
		better, total := 0, 0
		worseMiddle, middle := 0, 0
		var worst, least = 0.0, math.Inf(1)
		panel := compare.Panel{Title: fmt.Sprintf("width %d, depth %d", sh.width, sh.depth), XLabel: "layer", LogY: true,
			XTicks: sh.layers()}
		for _, seed := range conditioningSeeds {
			plain, bn := runs[shapeLabel(sh, seed, "none")], runs[shapeLabel(sh, seed, "batchnorm")]
			for fi, f := range []string{rundir.FactorX, rundir.FactorGrad} {
				s := compare.Series{Label: fmt.Sprintf("%s seed %d", factorName(f), seed), Color: fi, Dash: seed - 1, Points: true}
				for i, l := range sh.layers() {
					if f == rundir.FactorX && i == 0 {
						continue // the data: the same matrix for both networks
					}
					r := kappaRatio(plain, bn, l, f)
					s.X, s.Y = append(s.X, float64(i+1)), append(s.Y, r) // the ticks name x = 1, 2, …
					rows = append(rows, []string{sh.String(), strconv.Itoa(seed), l, factorName(f), g3(r)})
					if math.IsNaN(r) {
						continue
					}
					total++
					if r < 1 {
						better++
					}
					if f == rundir.FactorGrad && sh.middle(i) {
						middle++
						if r > 1 {
							worseMiddle++
						}
						worst, least = max(worst, r), min(least, r)
					}
				}
				panel.Series = append(panel.Series, s)
			}
		}
		checks = append(checks,
			Check{Claim: fmt.Sprintf("width %d, depth %d: BN's κ_%g is smaller in most layer factors (fc1's Σx aside), over both seeds", sh.width, sh.depth, conditioningP),
				Values: fmt.Sprintf("BN smaller in %d of %d", better, total), Pass: total > 0 && 2*better > total},
			Check{Claim: fmt.Sprintf("width %d, depth %d: as in the base study (width 256, depth 4), the middle layers' Σ∇h is worse with BN (every middle layer, both seeds)", sh.width, sh.depth),
				Values: fmt.Sprintf("BN larger in %d of %d; BN / plain %s to %s", worseMiddle, middle, g3(least), g3(worst)),
				Pass:   middle > 0 && worseMiddle == middle})
		fig.Panels = append(fig.Panels, panel)
	}
	tables := []string{mdTable(fmt.Sprintf("BN / plain ratio of the geometric mean over training of κ_%g (fixed analysis sample; < 1: BN better conditioned)", conditioningP),
		[]string{"shape", "seed", "layer", "factor", "BN / plain"}, rows)}
	return checks, tables, []*compare.Figure{fig}
}

func factorName(f string) string {
	return map[string]string{rundir.FactorX: "Σx", rundir.FactorGrad: "Σ∇h"}[f]
}
