package reproduce

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/rundir"
)

// TestConditioningShapesCounts builds runs whose κ is known: BN's is half the plain
// network's everywhere except the middle layers' Σ∇h, where it is double.
func TestConditioningShapesCounts(t *testing.T) {
	runs := map[string]*compare.Run{}
	for _, sh := range conditioningShapes {
		for _, seed := range conditioningSeeds {
			for _, norm := range []string{"none", "batchnorm"} {
				var cond strings.Builder
				for i, l := range sh.layers() {
					for _, f := range []string{rundir.FactorX, rundir.FactorGrad} {
						k := 100.0
						if norm == "batchnorm" {
							k = 50
							if f == rundir.FactorGrad && sh.middle(i) {
								k = 200
							}
						}
						fmt.Fprintf(&cond, `{"step":0,"layer":%q,"factor":%q,"dim":4,"numerical_rank":4,"kappa_p0.5":%g}`+"\n", l, f, k)
					}
				}
				runs[shapeLabel(sh, seed, norm)] = writeRun(t, `{"name":"t","status":"completed","steps":1}`, "", cond.String())
			}
		}
	}
	checks, _, _ := checkConditioningShapes(true, runs)
	if len(checks) != 2*len(conditioningShapes) {
		t.Fatalf("%d checks, want 2 per shape", len(checks))
	}
	for i, sh := range conditioningShapes {
		mid := sh.depth - 2
		// Layer factors per seed: depth Σ∇h and depth−1 Σx (fc1's left out); BN is smaller in all
		// but the middle Σ∇h.
		all := 2 * (2*sh.depth - 1)
		most, worse := checks[2*i], checks[2*i+1]
		if want := fmt.Sprintf("BN smaller in %d of %d", all-2*mid, all); !most.Pass || most.Values != want {
			t.Errorf("%v: %q (pass %v), want %q and a pass", sh, most.Values, most.Pass, want)
		}
		if want := fmt.Sprintf("BN larger in %d of %d; BN / plain 2 to 2", 2*mid, 2*mid); !worse.Pass || worse.Values != want {
			t.Errorf("%v: %q (pass %v), want %q and a pass", sh, worse.Values, worse.Pass, want)
		}
	}
}
