package reproduce

import (
	"fmt"
	"math"
	"testing"

	"github.com/lwca/lwca/compare"
)

func TestCollectAccuracyMeansAndSpreads(t *testing.T) {
	plan := accuracyPlan{depths: []int{8, 14}, seeds: []int{1, 2}}
	acc := map[string]float64{}
	runs := map[string]*compare.Run{}
	for _, d := range plan.depths {
		for _, form := range plan.forms(d) {
			for _, seed := range plan.seeds {
				label := seedLabel(seed, form, d)
				a := 0.3 + 0.01*float64(d) + 0.02*float64(seed)
				if form == "lastbn" {
					a += 0.05
				}
				status := `"completed"`
				if label == seedLabel(2, warmupForm, 14) {
					status = `"diverged","diverged_at_step":3`
				}
				acc[label] = a
				cond := fmt.Sprintf(`{"step":0,"layer":"fc","factor":"x","lambda_max":%d}
{"step":50,"layer":"fc","factor":"x","lambda_max":%d}
`, 1000, 10*seed)
				runs[label] = writeRun(t, fmt.Sprintf(`{"name":"t","status":%s,"steps":60,"final":{"test_accuracy":%g}}`, status, a), "", cond)
			}
		}
	}
	stats := collectAccuracy(plan, runs)
	if _, ok := stats[warmupForm][8]; ok {
		t.Error("the warm-up form is trained at the deepest depth only")
	}
	for _, d := range plan.depths {
		for _, form := range accuracyForms {
			st := stats[form][d]
			a1, a2 := acc[seedLabel(1, form, d)], acc[seedLabel(2, form, d)]
			if got, want := st.meanAcc(), (a1+a2)/2; math.Abs(got-want) > 1e-6 {
				t.Errorf("%s depth %d: mean %v, want %v", form, d, got, want)
			}
			if got := st.spread(); math.Abs(got-0.02) > 1e-6 {
				t.Errorf("%s depth %d: spread %v, want 0.02", form, d, got)
			}
			// The last analysis step's λmax, averaged over the seeds: (10 + 20) / 2.
			if got := mean(st.lam); got != 15 {
				t.Errorf("%s depth %d: mean λmax %v, want 15", form, d, got)
			}
		}
	}
	if one := (seedStats{acc: []float64{0.4}}); !math.IsNaN(one.spread()) {
		t.Errorf("one seed: spread %v, want NaN (no spread to measure)", one.spread())
	}
	// A diverged seed has no accuracy: the mean and the spread say so rather than count it.
	if w := stats[warmupForm][14]; !math.IsNaN(w.meanAcc()) || !math.IsNaN(w.spread()) {
		t.Errorf("with a diverged seed: mean %v, spread %v; want NaN", w.meanAcc(), w.spread())
	}
}

// A seed whose run is missing (a partial study) is left out under its own number: the
// remaining seed's figures are never shown as the missing one's.
func TestCollectAccuracyKeepsSeedsApart(t *testing.T) {
	plan := accuracyPlan{depths: []int{8}, seeds: []int{1, 2}}
	runs := map[string]*compare.Run{}
	for _, form := range plan.forms(8) {
		runs[seedLabel(2, form, 8)] = writeRun(t, `{"name":"t","status":"completed","steps":60,"final":{"test_accuracy":0.5}}`, "", "")
	}
	for _, form := range plan.forms(8) {
		if st := collectAccuracy(plan, runs)[form][8]; len(st.seeds) != 1 || st.seeds[0] != 2 || len(st.acc) != 1 {
			t.Errorf("%s: seeds %v with %d accuracies, want seed 2 alone", form, st.seeds, len(st.acc))
		}
	}
}

// TestAccuracyOrderCoversThePlanOnce: the priority order is a permutation of every form at
// every depth (the warm-up form at the deepest only) and seed.
func TestAccuracyOrderCoversThePlanOnce(t *testing.T) {
	for _, quick := range []bool{true, false} {
		plan := accuracyBudget(quick)
		want := map[string]bool{}
		for _, d := range plan.depths {
			for _, form := range plan.forms(d) {
				for _, seed := range plan.seeds {
					want[seedLabel(seed, form, d)] = true
				}
			}
		}
		order := accuracyOrder(plan)
		seen := map[string]bool{}
		for _, r := range order {
			l := seedLabel(r.seed, r.form, r.depth)
			if !want[l] || seen[l] {
				t.Errorf("quick %v: %s is not planned or comes twice", quick, l)
			}
			seen[l] = true
		}
		if len(seen) != len(want) {
			t.Errorf("quick %v: %d runs ordered, %d planned", quick, len(seen), len(want))
		}
	}
}
