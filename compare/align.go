package compare

import (
	"fmt"
	"slices"
	"sort"

	"github.com/lwca/lwca/rundir"
)

// Alignment says how the runs of a comparison are put side by side.
type Alignment int

const (
	// ByStep aligns on the training step. The value of a run at step t is its latest analysis
	// at or before t, provided the run trained up to t (a run that ended or diverged earlier
	// has no value there).
	ByStep Alignment = iota

	// ByEpoch aligns on the end of an epoch, for runs whose epochs have different numbers of
	// steps. The value of a run at epoch e is its latest analysis in an epoch ≤ e, provided
	// the run finished epoch e (it has that epoch's test record).
	ByEpoch
)

func (a Alignment) String() string {
	if a == ByEpoch {
		return "epoch"
	}
	return "step"
}

// ParseAlignment reads "step" or "epoch".
func ParseAlignment(s string) (Alignment, error) {
	switch s {
	case "step", "":
		return ByStep, nil
	case "epoch":
		return ByEpoch, nil
	}
	return 0, fmt.Errorf("compare: alignment %q: expected step or epoch", s)
}

// Tag names target t in column headings: "500" or "e1".
func (a Alignment) Tag(t int) string {
	if a == ByEpoch {
		return fmt.Sprintf("e%d", t)
	}
	return fmt.Sprint(t)
}

// Name names target t in prose: "step 500" or "epoch 1".
func (a Alignment) Name(t int) string { return a.String() + " " + fmt.Sprint(t) }

// At returns the record of layer and factor of r aligned to target t, or nil if the run has
// none there.
func (a Alignment) At(r *Run, layer, factor string, t int) *rundir.ConditioningRecord {
	series := r.Series(layer, factor)
	var best *rundir.ConditioningRecord
	switch a {
	case ByEpoch:
		if !slices.ContainsFunc(r.Test, func(p rundir.TestRecord) bool { return p.Epoch == t }) {
			return nil
		}
		for _, rec := range series {
			if rec.Epoch <= t {
				best = rec
			}
		}
	default:
		if t > r.LastStep() {
			return nil
		}
		for _, rec := range series {
			if rec.Step > t {
				break
			}
			best = rec
		}
	}
	return best
}

// Targets chooses at most max alignment targets (all if max ≤ 0), spread evenly over the
// candidates and always including the first and last.
//
// ByStep candidates are the analysis steps on the grid the runs share: steps that every run
// whose analyses reach that far has analysed (a run that ended, or diverged, earlier does not
// constrain later steps). When that grid has fewer than two steps (the runs analyse at
// unrelated intervals) the union of all analysis steps is used instead. ByEpoch candidates are
// the epochs at whose end some run was evaluated.
func (a Alignment) Targets(runs []*Run, max int) []int {
	var cand []int
	switch a {
	case ByEpoch:
		for _, r := range runs {
			for _, p := range r.Test {
				cand = append(cand, p.Epoch)
			}
		}
		slices.Sort(cand)
		cand = slices.Compact(cand)
	default:
		steps := make([][]int, len(runs))
		var union []int
		for i, r := range runs {
			steps[i] = r.AnalysisSteps()
			union = append(union, steps[i]...)
		}
		slices.Sort(union)
		union = slices.Compact(union)
		for _, s := range union {
			shared := true
			for i := range runs {
				if n := len(steps[i]); n > 0 && steps[i][n-1] >= s {
					if _, ok := slices.BinarySearch(steps[i], s); !ok {
						shared = false
						break
					}
				}
			}
			if shared {
				cand = append(cand, s)
			}
		}
		if len(cand) < 2 {
			cand = union
		}
	}
	return thin(cand, max)
}

// thin picks at most k of the sorted values xs, evenly by index, keeping both ends.
func thin(xs []int, k int) []int {
	if k <= 0 || len(xs) <= k {
		return slices.Clone(xs)
	}
	if k == 1 {
		return []int{xs[len(xs)-1]}
	}
	var out []int
	for i := range k {
		j := (i*(len(xs)-1) + (k-1)/2) / (k - 1) // round(i·(n−1)/(k−1))
		out = append(out, xs[j])
	}
	sort.Ints(out)
	return slices.Compact(out)
}

// X returns the horizontal coordinate of step in figures: the step itself, or under ByEpoch
// the number of epochs done, step / steps per epoch.
func (a Alignment) X(r *Run, step float64) float64 {
	if a == ByEpoch {
		if n := r.StepsPerEpoch(); n > 0 {
			return step / float64(n)
		}
	}
	return step
}
