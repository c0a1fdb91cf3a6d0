package reproduce

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/lwca/lwca/compare"
)

// synthCurvGrid writes the quick grid's runs with curvature records of known λmax (μ = 0.9,
// threshold 2(1+μ)/η = 3.8/η). The plain net diverges from lr 0.5 at step 3. Each net's
// λmax at step 0 is crit → 3.8/crit (critical rate crit); at step 10 every λmax is halved.
// The per-layer values peak in fc3, so that the maximum over the layers is what counts.
func synthCurvGrid(t *testing.T, crit map[string]map[string]float64, lossShift float64) map[string]*compare.Run {
	t.Helper()
	lrs, _, _, _ := stabilityGrid(true)
	runs := map[string]*compare.Run{}
	for _, norm := range []string{"none", "batchnorm"} {
		for _, lr := range lrs {
			label := stabilityLabel(norm, lr)
			diverged := norm == "none" && lr >= 0.5
			summary := `{"name":"t","status":"completed","steps":20}`
			if diverged {
				summary = `{"name":"t","status":"diverged","diverged_at_step":3,"steps":4}`
			}
			metrics := func(n int, shift float64) string {
				var b strings.Builder
				for s := range n {
					loss := fmt.Sprint(2.0 - 0.05*float64(s) + shift)
					if diverged && s == 3 {
						loss = `"NaN"`
					}
					fmt.Fprintf(&b, `{"type":"train","step":%d,"epoch":0,"lr":%g,"loss":%s,"accuracy":0}`+"\n", s, lr, loss)
				}
				return b.String()
			}
			var cond strings.Builder
			steps := []int{0, 10}
			if diverged {
				steps = steps[:1]
			}
			for _, step := range steps {
				scale := 1.0
				if step > 0 {
					scale = 0.5
				}
				for li, l := range mlpLayers {
					layerScale := []float64{0.5, 0.9, 1, 0.7}[li]
					fmt.Fprintf(&cond, `{"step":%d,"layer":%q,"factor":"curvature","network_stability_threshold":%g`, step, l, 3.8/lr)
					for _, p := range predictors {
						v := scale * 3.8 / crit[norm][p.key]
						if p.block {
							v *= layerScale
						}
						fmt.Fprintf(&cond, `,%q:%g`, p.key, v)
					}
					cond.WriteString("}\n")
				}
			}
			n := 20
			if diverged {
				n = 4
			}
			runs[label] = writeRun(t, summary, metrics(n, 0), "")
			runs[label+curvRunSuffix] = writeRun(t, `{"name":"t","status":"completed","steps":11}`, metrics(min(n, 11), lossShift), cond.String())
		}
	}
	return runs
}

func TestCurvStabilityChecks(t *testing.T) {
	// The quick grid is 0.05 … 2; plain diverges from 0.5. Critical rates: the whole-network
	// Hessian 0.3 (plain) and 3 (BN) separate exactly; K-FAC's 0.15 (plain) flags plain 0.2
	// too; the GGN's 1 (BN) flags BN's 2.
	crit := map[string]map[string]float64{"none": {}, "batchnorm": {}}
	for _, p := range predictors {
		crit["none"][p.key], crit["batchnorm"][p.key] = 0.3, 3
	}
	crit["none"]["kfac_lambda_max"] = 0.15
	crit["batchnorm"]["network_ggn_lambda_max"] = 1
	checks, tables, figs := checkCurvStability(true, synthCurvGrid(t, crit, 0))
	if len(checks) != 1+len(predictors) {
		t.Fatalf("%d checks, want %d", len(checks), 1+len(predictors))
	}
	if !checks[0].Pass {
		t.Errorf("identical losses: retrace check fails: %s", checks[0])
	}
	byName := map[string]Check{}
	for i, p := range predictors {
		byName[p.key] = checks[1+i]
	}
	for key, want := range map[string]string{
		"network_hessian_lambda_max": "12/12 runs right; critical lr 2(1+μ)/λmax: plain 0.3, BN 3",
		"kfac_lambda_max":            "11/12 runs right; critical lr 2(1+μ)/λmax: plain 0.15, BN 3",
		"network_ggn_lambda_max":     "11/12 runs right; critical lr 2(1+μ)/λmax: plain 0.3, BN 1",
		"hessian_lambda_max":         "12/12 runs right",
	} {
		c := byName[key]
		if !strings.Contains(c.Values, want) || c.Pass != strings.HasPrefix(want, "12/12") {
			t.Errorf("%s: %s; want values containing %q", key, c, want)
		}
	}
	if !strings.Contains(byName["kfac_lambda_max"].Values, "observed: plain survives 0.2, diverges from 0.5; BN survives 2, none diverges") {
		t.Errorf("observed boundary: %s", byName["kfac_lambda_max"].Values)
	}
	// Margins: K-FAC's smallest diverging ratio is plain 0.5 (0.5/0.15), its largest
	// surviving plain 0.2 (0.2/0.15): margin 2.5. The Hessian's: plain 0.5 (0.5/0.3) over the
	// largest surviving, BN 2 (2/3) or plain 0.2 (0.2/0.3): 2.5 as well.
	if !strings.Contains(byName["kfac_lambda_max"].Values, "separation margin 2.5") {
		t.Errorf("K-FAC margin: %s", byName["kfac_lambda_max"].Values)
	}
	// The last curvature step of a surviving run is step 10, where λmax is halved: its ratio
	// is half its step-0 ratio; a diverging run's is its step-0 ratio.
	last := tables[1]
	wantRow := fmt.Sprintf("| plain | 0.2 | completed | 10 | %s |", g3(0.5*0.2/0.15))
	if !strings.Contains(last, wantRow) {
		t.Errorf("last-step table lacks %q:\n%s", wantRow, last)
	}
	if wantRow := fmt.Sprintf("| plain | 0.5 | diverged at step 3 | 0 | %s |", g3(0.5/0.15)); !strings.Contains(last, wantRow) {
		t.Errorf("last-step table lacks %q:\n%s", wantRow, last)
	}
	// At the last step the surviving runs' ratios halve: the Hessian's margin doubles to 5.
	if row := "| H, whole network (sharpness) | 0.3 | 3 | 12/12 | 2.5 | 12/12 | 5 |"; !strings.Contains(tables[2], row) {
		t.Errorf("predictor table lacks %q:\n%s", row, tables[2])
	}
	// The figure: per net and moment a panel, a series per predictor, one point per rate.
	f := figs[0]
	if len(f.Panels) != 4 || len(f.Panels[0].Series) != len(predictors) || f.Panels[0].RefY != 1 {
		t.Fatalf("figure: %d panels, %d series, RefY %v", len(f.Panels), len(f.Panels[0].Series), f.Panels[0].RefY)
	}
	hs := f.Panels[1].Series[len(predictors)-1] // BN, step 0, whole-network Hessian
	if got, want := hs.Y[len(hs.Y)-1], 2/3.0; math.Abs(got-want) > 1e-9 || hs.X[len(hs.X)-1] != math.Log10(2) {
		t.Errorf("BN sharpness ratio at lr 2 = %v at x %v, want %v at log10 2", got, hs.X[len(hs.X)-1], want)
	}
	if !strings.Contains(f.Panels[0].Title, "diverges from lr 0.5") || !strings.Contains(f.Panels[1].Title, "no lr diverges") {
		t.Errorf("panel titles %q, %q", f.Panels[0].Title, f.Panels[1].Title)
	}
}

func TestCurvStabilityRetraceFails(t *testing.T) {
	crit := map[string]map[string]float64{"none": {}, "batchnorm": {}}
	for _, p := range predictors {
		crit["none"][p.key], crit["batchnorm"][p.key] = 0.3, 3
	}
	checks, _, _ := checkCurvStability(true, synthCurvGrid(t, crit, 0.01))
	if checks[0].Pass {
		t.Errorf("losses that differ by 0.5%%: retrace check passes: %s", checks[0])
	}
}

func TestSeparate(t *testing.T) {
	s := separate([]float64{0.5, 2, 3, math.NaN(), 1.5}, []bool{false, true, true, true, false})
	if s.right != 3 || s.n != 4 || math.Abs(s.margin-2/1.5) > 1e-12 {
		t.Errorf("separate = %+v, want 3 of 4 right, margin 4/3", s)
	}
	if s := separate([]float64{0.5}, []bool{false}); !math.IsNaN(s.margin) {
		t.Errorf("one class only: margin %v, want NaN", s.margin)
	}
}
