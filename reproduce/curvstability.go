package reproduce

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/rundir"
)

// curvRunSuffix marks the short runs that measure the curvature; the runs of the same
// label without it train the full budget and say whether the rate diverges.
const curvRunSuffix = "_curv"

// curvBudget is the schedule of the curvature runs: they train the first steps of the
// learning-rate grid's runs again with analysis.curvature at every analysis step, since the
// exact products cost seconds per step and divergence happens within the first ten steps.
func curvBudget(quick bool) (steps, every int, curv []string) {
	if quick {
		return 11, 10, []string{"analysis.curvature.batch_size=128", "analysis.curvature.max_iter=15"}
	}
	// Analysis every 10 steps, curvature every 20: steps 0 and 20, the two the checks read.
	return 21, 10, []string{"analysis.curvature.every=20", "analysis.curvature.batch_size=256", "analysis.curvature.max_iter=30"}
}

// predictor is one curvature whose λmax, times the learning rate, is set against the
// heavy-ball threshold 2(1+μ).
type predictor struct {
	name  string
	key   string // record key of the curvature records
	block bool   // a per-layer key: the predictor is its maximum over the layers
}

var predictors = []predictor{
	{"K-FAC F = Σx⊗Σ∇h (max over layers)", "kfac_lambda_max", true},
	{"EF block (max over layers)", "ef_lambda_max", true},
	{"GGN block (max over layers)", "ggn_lambda_max", true},
	{"H block (max over layers)", "hessian_lambda_max", true},
	{"EF, whole network", "network_ef_lambda_max", false},
	{"GGN, whole network", "network_ggn_lambda_max", false},
	{"H, whole network (sharpness)", "network_hessian_lambda_max", false},
}

// shortName is a predictor's name without its parenthesis, for figure legends and checks.
func (p predictor) shortName() string {
	n, _, _ := strings.Cut(p.name, " (")
	return n
}

// curvStabilityExperiment asks which curvature predicts divergence over bn-stability's
// learning-rate grid, BN and plain: λmax of K-FAC's F, of the exact EF, GGN and Hessian
// blocks, and of the whole network's matrices, each as η·λmax against the heavy-ball
// threshold 2(1+μ). Every grid point trains twice: the full-length run gives the outcome, a
// short run with analysis.curvature the curvature of its first steps.
func curvStabilityExperiment() *experiment {
	return &experiment{
		name:  "curvature-stability",
		title: "Which curvature predicts divergence: K-FAC, EF, GGN and Hessian over the MNIST learning-rate grid",
		runs: func(quick bool) []runSpec {
			lrs, _, _, _ := stabilityGrid(quick)
			cSteps, cEvery, curv := curvBudget(quick)
			out := stabilityRuns(quick) // the outcomes
			for _, norm := range []string{"none", "batchnorm"} {
				for _, lr := range lrs {
					out = append(out, runSpec{label: stabilityLabel(norm, lr) + curvRunSuffix, config: "mnist_mlp.yaml", overrides: slices.Concat([]string{
						"model.norm=" + norm, "optim.lr=" + strconv.FormatFloat(lr, 'g', -1, 64),
						"train.steps=" + strconv.Itoa(cSteps), "analysis.every=" + strconv.Itoa(cEvery),
						"analysis.curvature.preset=blocks", "analysis.curvature.top_k=1", "analysis.curvature.tol=1e-4"}, curv)})
				}
			}
			return out
		},
		check: checkCurvStability,
		// The report's tables at the curvature steps, then across the full-length runs.
		compareOpts: func(quick bool) compare.Options {
			_, steps, _, _ := stabilityGrid(quick)
			cSteps, _, _ := curvBudget(quick)
			return compare.Options{Targets: []int{0, cSteps - 1, steps / 4, steps - 1}}
		},
	}
}

// curvSteps returns the steps of r's curvature records, increasing.
func curvSteps(r *compare.Run, layers []string) []int {
	var out []int
	for _, rec := range r.Series(layers[0], rundir.FactorCurvature) {
		out = append(out, rec.Step)
	}
	return out
}

// separation scores how well ratios tell diverging runs from the others: right counts the
// runs the threshold 1 classifies correctly (ratio > 1 ⇔ diverged), margin is the smallest
// ratio of a diverging run over the largest of a surviving one (> 1: some threshold
// separates them cleanly; NaN when either class is empty).
type separation struct {
	right, n int
	margin   float64
}

func separate(ratios []float64, diverged []bool) separation {
	s := separation{margin: math.NaN()}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, v := range ratios {
		if math.IsNaN(v) {
			continue
		}
		s.n++
		if (v > 1) == diverged[i] {
			s.right++
		}
		if diverged[i] {
			lo = math.Min(lo, v)
		} else {
			hi = math.Max(hi, v)
		}
	}
	if !math.IsInf(lo, 0) && !math.IsInf(hi, 0) {
		s.margin = lo / hi
	}
	return s
}

func (s separation) String() string {
	return fmt.Sprintf("%d/%d", s.right, s.n)
}

// curvRun is one grid point: its outcome run and its curvature run.
type curvRun struct {
	norm, net string
	lr        float64
	outcome   *compare.Run
	curv      *compare.Run
	diverged  bool
	r0, rLast []float64 // per predictor: the ratio at the first and at the last curvature step
	lastStep  int
}

func checkCurvStability(quick bool, runs map[string]*compare.Run) ([]Check, []string, []*compare.Figure) {
	lrs, _, _, _ := stabilityGrid(quick)
	name := map[string]string{"none": "plain", "batchnorm": "BN"}
	var grid []*curvRun
	retrace := 0.0 // largest relative loss difference between the two runs of a grid point
	for _, norm := range []string{"none", "batchnorm"} {
		for _, lr := range lrs {
			label := stabilityLabel(norm, lr)
			g := &curvRun{norm: norm, net: name[norm], lr: lr, outcome: runs[label], curv: runs[label+curvRunSuffix], lastStep: -1}
			g.diverged = g.outcome.Summary.Status == rundir.StatusDiverged
			retrace = math.Max(retrace, lossGap(g.outcome, g.curv))
			steps := curvSteps(g.curv, mlpLayers)
			for _, p := range predictors {
				r0, rl := math.NaN(), math.NaN()
				if len(steps) > 0 {
					r0 = compare.CurvatureRatio(g.curv, p.key, p.block, steps[0])
					rl = compare.CurvatureRatio(g.curv, p.key, p.block, steps[len(steps)-1])
					g.lastStep = steps[len(steps)-1]
				}
				g.r0, g.rLast = append(g.r0, r0), append(g.rLast, rl)
			}
			grid = append(grid, g)
		}
	}

	checks := []Check{{
		Claim:  "the curvature runs retrace the first steps of the full-length runs (same seed and data order)",
		Values: fmt.Sprintf("largest relative difference of the mini-batch losses over their common finite steps: %s", g3(retrace)),
		Pass:   retrace < 1e-3,
	}}

	var rows, lastRows [][]string
	for _, g := range grid {
		row := []string{g.net, g3(g.lr), g.outcome.StatusText()}
		last := []string{g.net, g3(g.lr), g.outcome.StatusText(), strconv.Itoa(g.lastStep)}
		for i := range predictors {
			row, last = append(row, g3(g.r0[i])), append(last, g3(g.rLast[i]))
		}
		rows, lastRows = append(rows, row), append(lastRows, last)
	}
	head := []string{"net", "lr", "outcome (full run)"}
	for _, p := range predictors {
		head = append(head, p.shortName())
	}
	tables := []string{
		mdTable("η·λmax/(2(1+μ)) at step 0 per curvature (> 1: beyond the heavy-ball stability threshold)", head, rows),
		mdTable("η·λmax/(2(1+μ)) at the curvature run's last curvature step (the step before divergence, or its last)",
			append(append([]string(nil), head[:3]...), append([]string{"step"}, head[3:]...)...), lastRows),
	}

	// Per predictor: the critical rate 2(1+μ)/λmax at step 0 (the same for every rate of a
	// net, whose initialisation does not depend on it) against the observed boundary, and how
	// cleanly the ratio separates the diverging runs from the others.
	var prows [][]string
	for i, p := range predictors {
		var r0, rl []float64
		var div []bool
		crit := map[string]float64{}
		for _, g := range grid {
			r0, rl, div = append(r0, g.r0[i]), append(rl, g.rLast[i]), append(div, g.diverged)
			if _, ok := crit[g.norm]; !ok && !math.IsNaN(g.r0[i]) {
				crit[g.norm] = g.lr / g.r0[i]
			}
		}
		// (Within one net the step-0 ratios only scale with the rate, so every curvature ranks
		// that net's runs alike; what sets them apart is where the threshold falls.)
		s0, sl := separate(r0, div), separate(rl, div)
		prows = append(prows, []string{p.name, g3(critOr(crit, "none")), g3(critOr(crit, "batchnorm")),
			s0.String(), g3(s0.margin), sl.String(), g3(sl.margin)})
		checks = append(checks, Check{
			Claim: fmt.Sprintf("%s: η·λmax > 2(1+μ) at step 0 exactly for the runs that diverge", p.shortName()),
			Values: fmt.Sprintf("%s runs right; critical lr 2(1+μ)/λmax: plain %s, BN %s (observed: %s); separation margin %s",
				s0, g3(critOr(crit, "none")), g3(critOr(crit, "batchnorm")), observedBoundary(grid), g3(s0.margin)),
			Pass: s0.n > 0 && s0.right == s0.n,
		})
	}
	tables = append(tables, mdTable("How each curvature separates diverging from surviving runs (margin: smallest ratio of a diverging run / largest of a surviving one; > 1 means some threshold separates them)",
		[]string{"curvature", "critical lr plain", "critical lr BN", "right at threshold 1, step 0", "margin step 0",
			"right at threshold 1, last step", "margin last step"}, prows))
	return checks, tables, []*compare.Figure{curvStabilityFigure(grid)}
}

func critOr(m map[string]float64, norm string) float64 {
	if v, ok := m[norm]; ok {
		return v
	}
	return math.NaN()
}

// observedBoundary describes, per net, the largest rate that did not diverge and the
// smallest that did.
func observedBoundary(grid []*curvRun) string {
	var parts []string
	for _, net := range []string{"plain", "BN"} {
		surv, div := math.NaN(), math.NaN()
		for _, g := range grid {
			if g.net != net {
				continue
			}
			if g.diverged && math.IsNaN(div) {
				div = g.lr
			}
			if !g.diverged {
				surv = g.lr
			}
		}
		s := net + " survives " + g3(surv)
		if math.IsNaN(div) {
			s += ", none diverges"
		} else {
			s += ", diverges from " + g3(div)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// lossGap is the largest relative difference between two runs' mini-batch losses over the
// steps both trained with a finite loss; 0 when they share none.
func lossGap(a, b *compare.Run) float64 {
	byStep := map[int]float64{}
	for _, p := range a.Train {
		byStep[p.Step] = float64(p.Loss)
	}
	gap := 0.0
	for _, p := range b.Train {
		va, ok := byStep[p.Step]
		vb := float64(p.Loss)
		if !ok || math.IsNaN(va) || math.IsInf(va, 0) || math.IsNaN(vb) || math.IsInf(vb, 0) {
			continue
		}
		gap = math.Max(gap, math.Abs(va-vb)/math.Max(math.Abs(va), 1e-12))
	}
	return gap
}

// curvStabilityFigure plots, per net, every curvature's ratio against the learning rate at
// step 0 and at the last curvature step, with the threshold 1.
func curvStabilityFigure(grid []*curvRun) *compare.Figure {
	f := &compare.Figure{Name: "reproduce_curvature_stability", Title: "Which curvature crosses 2(1+μ)/η where training diverges",
		Cols: 2, Width: 12, Height: 8}
	for _, when := range []string{"step 0", "last curvature step"} {
		for _, net := range []string{"plain", "BN"} {
			p := compare.Panel{Title: fmt.Sprintf("%s, %s (%s)", net, when, netBoundary(grid, net)),
				XLabel: "log10 learning rate", YLabel: "lr·λmax / (2(1+μ))", LogY: true, RefY: 1}
			for i, pr := range predictors {
				s := compare.Series{Label: pr.shortName(), Color: i, Points: true}
				for _, g := range grid {
					if g.net != net {
						continue
					}
					v := g.r0[i]
					if when != "step 0" {
						v = g.rLast[i]
					}
					s.X, s.Y = append(s.X, math.Log10(g.lr)), append(s.Y, v)
				}
				p.Series = append(p.Series, s)
			}
			f.Panels = append(f.Panels, p)
		}
	}
	return f
}

// netBoundary is where a net diverges, for panel titles: "diverges from lr 0.5".
func netBoundary(grid []*curvRun, net string) string {
	for _, g := range grid {
		if g.net == net && g.diverged {
			return "diverges from lr " + g3(g.lr)
		}
	}
	return "no lr diverges"
}
