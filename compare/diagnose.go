package compare

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lwca/lwca/rundir"
)

// Diagnostic names.
const (
	DiagStability    = "stability"     // a layer's stability ratio exceeds 1
	DiagFalseMinimum = "false-minimum" // loss flat, gradients shrinking, weights growing, under BN
	DiagLastLayer    = "last-layer"    // the classifier's input far worse conditioned than the rest
)

// Thresholds tune the diagnostics. A zero field takes its default (in brackets).
type Thresholds struct {
	// Stability: a layer is flagged when its stability_ratio η·λmax(F)/(2(1+μ)) exceeds this at
	// some analysis step [1]: heavy-ball gradient descent on the layer's quadratic model would
	// diverge along its sharpest direction.
	Stability float64

	// The false-local-minimum pattern is looked for over the last Window analysis steps of a
	// run [6] (at least 4 are needed) with model.norm batchnorm that did not diverge. With
	// s₁ < … < s_W the window's steps, "start" means the first two and "end" the last two:
	//   loss_start = mean mini-batch loss over steps [s₁, s₂), loss_end over [s_{W−1}, s_W];
	//   the loss is flat if |loss_end − loss_start| ≤ LossFlat·loss_start [0.1] and
	//   loss_end ≥ LossFloor [0.05] (a run that has fit its data is not stuck);
	//   a layer shows the pattern if mean grad_norm at the end ≤ GradFall × that at the start
	//   [0.8] and mean weight_norm at the end ≥ WeightGrowth × that at the start [1.1].
	Window       int
	LossFlat     float64
	LossFloor    float64
	GradFall     float64
	WeightGrowth float64

	// LastLayer: at a run's last analysis step the last layer is flagged when κ_p or λmax of
	// its Σx exceeds LastLayer times the median of the same metric over the other layers [10].
	LastLayer float64
}

// DefaultThresholds returns the documented defaults.
func DefaultThresholds() Thresholds {
	return Thresholds{Stability: 1, Window: 6, LossFlat: 0.1, LossFloor: 0.05, GradFall: 0.8, WeightGrowth: 1.1, LastLayer: 10}
}

func (t Thresholds) withDefaults() Thresholds {
	d := DefaultThresholds()
	set := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	set(&t.Stability, d.Stability)
	set(&t.LossFlat, d.LossFlat)
	set(&t.LossFloor, d.LossFloor)
	set(&t.GradFall, d.GradFall)
	set(&t.WeightGrowth, d.WeightGrowth)
	set(&t.LastLayer, d.LastLayer)
	if t.Window == 0 {
		t.Window = d.Window
	}
	t.Window = max(t.Window, 4)
	return t
}

// Finding is one diagnostic that fired, with the numbers behind it.
type Finding struct {
	Diagnostic string
	Run        string // run label
	Layer      string
	Step       int // the step the finding refers to (first crossing, end of window, last analysis)
	Message    string
	Numbers    []Number
}

// Number is a named value behind a finding.
type Number struct {
	Name  string
	Value float64
}

// Diagnose runs the three diagnostics over runs; kappaKey names the κ_p record key used by
// the last-layer test (e.g. "kappa_p0.5"). Findings come grouped by diagnostic, then in run
// and layer order.
func Diagnose(runs []*Run, kappaKey string, th Thresholds) []Finding {
	th = th.withDefaults()
	var out []Finding
	for _, r := range runs {
		out = append(out, stabilityFindings(r, th)...)
	}
	for _, r := range runs {
		out = append(out, falseMinimumFindings(r, th)...)
	}
	for _, r := range runs {
		if f, ok := lastLayerFinding(r, kappaKey, th); ok {
			out = append(out, f)
		}
	}
	return out
}

func stabilityFindings(r *Run, th Thresholds) []Finding {
	var out []Finding
	for _, layer := range r.Layers() {
		first, maxStep, above, n := -1, -1, 0, 0
		maxRatio := math.Inf(-1)
		for _, rec := range r.Series(layer, rundir.FactorFisher) {
			v, ok := rec.Values["stability_ratio"]
			if !ok || math.IsNaN(v) {
				continue
			}
			n++
			if v > th.Stability {
				above++
				if first < 0 {
					first = rec.Step
				}
			}
			if v > maxRatio {
				maxRatio, maxStep = v, rec.Step
			}
		}
		if above == 0 {
			continue
		}
		lr := r.lrAt(first)
		out = append(out, Finding{
			Diagnostic: DiagStability, Run: r.Label, Layer: layer, Step: first,
			Message: fmt.Sprintf("η·λmax(F)/(2(1+μ)) > %s at %d of %d analysis steps, first at step %d; largest %s at step %d",
				fmtNum(th.Stability), above, n, first, fmtNum(maxRatio), maxStep),
			Numbers: []Number{{"first_step", float64(first)}, {"max_ratio", maxRatio}, {"max_step", float64(maxStep)},
				{"steps_above", float64(above)}, {"steps_analysed", float64(n)}, {"lr", lr}},
		})
	}
	return out
}

// lrAt returns the learning rate of the train record at step, NaN if there is none.
func (r *Run) lrAt(step int) float64 {
	i, ok := slices.BinarySearchFunc(r.Train, step, func(p rundir.TrainRecord, s int) int { return p.Step - s })
	if !ok {
		return math.NaN()
	}
	return r.Train[i].LR
}

// meanLoss averages the finite mini-batch losses of steps in [from, to]; NaN if none.
func (r *Run) meanLoss(from, to int) float64 {
	sum, n := 0.0, 0
	for _, p := range r.Train {
		if p.Step >= from && p.Step <= to {
			loss := float64(p.Loss)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return math.NaN()
			}
			sum += loss
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

func falseMinimumFindings(r *Run, th Thresholds) []Finding {
	if r.Norm() != "batchnorm" || r.Summary.Status == rundir.StatusDiverged {
		return nil
	}
	steps := r.AnalysisSteps()
	if len(steps) < 4 {
		return nil
	}
	w := steps[max(0, len(steps)-th.Window):]
	k := len(w)
	lossStart := r.meanLoss(w[0], w[1]-1)
	lossEnd := r.meanLoss(w[k-2], w[k-1])
	if math.IsNaN(lossStart) || math.IsNaN(lossEnd) || lossStart <= 0 {
		return nil
	}
	if math.Abs(lossEnd-lossStart) > th.LossFlat*lossStart || lossEnd < th.LossFloor {
		return nil
	}
	var out []Finding
	for _, layer := range r.Layers() {
		at := map[int]*rundir.ConditioningRecord{}
		for _, rec := range r.Series(layer, rundir.FactorFisher) {
			at[rec.Step] = rec
		}
		pair := func(key string, a, b int) float64 {
			ra, rb := at[a], at[b]
			if ra == nil || rb == nil {
				return math.NaN()
			}
			return (ra.Value(key) + rb.Value(key)) / 2
		}
		g0, g1 := pair("grad_norm", w[0], w[1]), pair("grad_norm", w[k-2], w[k-1])
		n0, n1 := pair("weight_norm", w[0], w[1]), pair("weight_norm", w[k-2], w[k-1])
		if !(g1 <= th.GradFall*g0 && n1 >= th.WeightGrowth*n0) { // NaN never fires
			continue
		}
		out = append(out, Finding{
			Diagnostic: DiagFalseMinimum, Run: r.Label, Layer: layer, Step: w[k-1],
			Message: fmt.Sprintf("steps %d–%d under BatchNorm: loss flat (%s → %s), ‖∂L/∂W‖ falls %s → %s, ‖W‖ grows %s → %s",
				w[0], w[k-1], fmtNum(lossStart), fmtNum(lossEnd), fmtNum(g0), fmtNum(g1), fmtNum(n0), fmtNum(n1)),
			Numbers: []Number{{"window_start", float64(w[0])}, {"window_end", float64(w[k-1])},
				{"loss_start", lossStart}, {"loss_end", lossEnd}, {"grad_norm_start", g0}, {"grad_norm_end", g1},
				{"weight_norm_start", n0}, {"weight_norm_end", n1}},
		})
	}
	return out
}

func lastLayerFinding(r *Run, kappaKey string, th Thresholds) (Finding, bool) {
	layers := r.Layers()
	steps := r.AnalysisSteps()
	if len(layers) < 2 || len(steps) == 0 {
		return Finding{}, false
	}
	step := steps[len(steps)-1]
	// A rank-limited κ is a round-off quotient: compared with it, any layer would look far
	// worse conditioned than the rest. It counts as missing.
	valueAt := func(layer, key string) float64 {
		for _, rec := range r.Series(layer, rundir.FactorX) {
			if rec.Step == step {
				v, _ := valueOf(rec, key)
				return v
			}
		}
		return math.NaN()
	}
	last := layers[len(layers)-1]
	var fired []string
	var nums []Number
	for _, key := range []string{kappaKey, "lambda_max"} {
		v := valueAt(last, key)
		var others []float64
		for _, l := range layers[:len(layers)-1] {
			if o := valueAt(l, key); !math.IsNaN(o) {
				others = append(others, o)
			}
		}
		if math.IsNaN(v) || len(others) == 0 {
			continue
		}
		med := Median(others)
		ratio := v / med
		if med == 0 {
			ratio = math.Inf(1)
			if v == 0 {
				ratio = math.NaN()
			}
		}
		nums = append(nums, Number{key + "_last", v}, Number{key + "_median_others", med}, Number{key + "_ratio", ratio})
		if ratio > th.LastLayer {
			fired = append(fired, fmt.Sprintf("%s %s is %s× the median %s of the other layers", key, fmtNum(v), fmtNum(ratio), fmtNum(med)))
		}
	}
	if len(fired) == 0 {
		return Finding{}, false
	}
	return Finding{
		Diagnostic: DiagLastLayer, Run: r.Label, Layer: last, Step: step,
		Message: fmt.Sprintf("Σx of the last layer at step %d: %s", step, strings.Join(fired, "; ")),
		Numbers: nums,
	}, true
}

// Median of xs (not empty); +Inf values sort last.
func Median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
