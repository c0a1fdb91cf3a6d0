package reproduce

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/lwca/lwca/compare"
)

// writeRun writes a minimal run directory and reads it back as compare does.
func writeRun(t *testing.T, summary, metrics, cond string) *compare.Run {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"summary.json": summary, "metrics.jsonl": metrics, "conditioning.jsonl": cond} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := compare.LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGeoMeanKappaDropsRankDeficientRecords(t *testing.T) {
	// Three records of a 10-dimensional factor: κ_0.5 needs numerical rank ≥ 5; the second
	// record has rank 3 and must be left out, the third is +Inf and must be left out too.
	cond := `{"step":0,"layer":"fc1","factor":"x","dim":10,"numerical_rank":10,"kappa_p0.5":4}
{"step":50,"layer":"fc1","factor":"x","dim":10,"numerical_rank":3,"kappa_p0.5":1e17}
{"step":100,"layer":"fc1","factor":"x","dim":10,"numerical_rank":9,"kappa_p0.5":"+Inf"}
{"step":150,"layer":"fc1","factor":"x","dim":10,"numerical_rank":5,"kappa_p0.5":16}
`
	r := writeRun(t, `{"name":"t","status":"completed","steps":200}`, "", cond)
	got, used, dropped := geoMeanKappa(r, "fc1", "x", 0.5)
	if want := math.Sqrt(4 * 16); math.Abs(got-want) > 1e-12 || used != 2 || dropped != 2 {
		t.Errorf("geoMeanKappa = %v (used %d, dropped %d), want %v (2, 2)", got, used, dropped, want)
	}
}

func TestFinalLossAndQuarters(t *testing.T) {
	// 20 steps with loss = step: the last tenth is steps 18 and 19, mean 18.5.
	var m string
	for s := 0; s < 20; s++ {
		m += `{"type":"train","step":` + strconv.Itoa(s) + `,"epoch":0,"lr":0.1,"loss":` + strconv.Itoa(s) + `,"accuracy":0}` + "\n"
	}
	r := writeRun(t, `{"name":"t","status":"completed","steps":20}`, m, "")
	if got := finalLoss(r); got != 18.5 {
		t.Errorf("finalLoss = %v, want 18.5", got)
	}
	if got := lossMean(r, 5, 10); got != 7 {
		t.Errorf("lossMean(5, 10) = %v, want 7", got)
	}
	d := writeRun(t, `{"name":"t","status":"diverged","diverged_at_step":3,"steps":4}`, m, "")
	if got := finalLoss(d); !math.IsInf(got, 1) {
		t.Errorf("finalLoss of a diverged run = %v, want +Inf", got)
	}
}

func TestPlanCoversEveryExperiment(t *testing.T) {
	want := map[string]int{"bn-stability": 12, "bn-conditioning": 2, "false-minimum": 2, "last-layer": 9,
		"last-layer-accuracy": 14, "false-minimum-natural": 2, "bn-conditioning-shapes": 12, "curvature-stability": 24}
	for _, name := range Names() {
		p, err := Plan(name, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != want[name] {
			t.Errorf("%s quick: %d runs, want %d", name, len(p), want[name])
		}
	}
	if _, err := Plan("nope", true); err == nil {
		t.Error("unknown experiment: want an error")
	}
}
