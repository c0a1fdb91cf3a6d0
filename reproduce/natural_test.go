package reproduce

import (
	"fmt"
	"math"
	"testing"

	"github.com/lwca/lwca/compare"
)

func TestScaleLawRecoversAPowerLaw(t *testing.T) {
	// λ = c·‖W‖^b exactly, for two exponents; the non-positive and infinite points are left out.
	for _, b := range []float64{-2, -0.5} {
		var norms, lams []float64
		for _, w := range []float64{20, 35, 80, 150, 600} {
			norms, lams = append(norms, w), append(lams, 0.3*math.Pow(w, b))
		}
		norms, lams = append(norms, 50, 70, math.Inf(1)), append(lams, 0, -1, 1)
		slope, n := scaleLaw(norms, lams)
		if math.Abs(slope-b) > 1e-12 || n != 5 {
			t.Errorf("exponent %g: slope %v from %d points, want %g from 5", b, slope, n, b)
		}
	}
	if s, _ := scaleLaw([]float64{3}, []float64{1}); !math.IsNaN(s) {
		t.Errorf("one point: slope %v, want NaN", s)
	}
}

func TestLogRange(t *testing.T) {
	if got := logRange([]float64{0.5, 50, 0, math.Inf(1), 5}); math.Abs(got-2) > 1e-12 {
		t.Errorf("logRange = %v, want 2 decades (0.5 to 50; 0 and +Inf left out)", got)
	}
	if got := logRange([]float64{0, -3}); !math.IsNaN(got) {
		t.Errorf("no positive value: %v, want NaN", got)
	}
}

// TestInitScaleChecks: the first analysis of a 10× scaled network must show λmax(Σ∇h)
// 100× smaller for the check to pass; a 10× smaller one (the 1/‖W‖ law) must fail it.
func TestInitScaleChecks(t *testing.T) {
	plan := naturalPlan{cases: []naturalCase{{"init1", "", 0.1, "he", nil}, {"init10", "", 0.1, "he_x10", nil}}}
	run := func(norm, lam float64) *compare.Run {
		var cond string
		for _, l := range bnFedLayers {
			cond += fmt.Sprintf(`{"step":0,"layer":%q,"factor":"grad","lambda_max":%g}`+"\n", l, lam)
			cond += fmt.Sprintf(`{"step":0,"layer":%q,"factor":"fisher","weight_norm":%g}`+"\n", l, norm)
		}
		return writeRun(t, `{"name":"t","status":"completed","steps":1}`, "", cond)
	}
	for _, tc := range []struct {
		lam10 float64
		pass  bool
	}{{0.002, true}, {0.02, false}} {
		runs := map[string]*compare.Run{"init1_no_wd": run(20, 0.2), "init10_no_wd": run(200, tc.lam10)}
		checks := initScaleChecks(plan, runs)
		if len(checks) != 1 || checks[0].Pass != tc.pass {
			t.Errorf("λmax 0.2 at ‖W‖ 20 vs %g at 200: checks %v, want one that passes: %v", tc.lam10, checks, tc.pass)
		}
	}
}
