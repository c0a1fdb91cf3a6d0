package netcurv

import (
	"math"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
)

// On a ReLU network the logits are linear in one layer's weight on each piece of constant
// activation pattern, so a weight's Hessian block equals its GGN block almost everywhere;
// for the last layer this holds with BatchNorm too. With a batch large enough that the
// step (here 1e-4, larger than the default to make it certain) crosses rectifier kinks, the gradient differences are then wrong by O(1/h)
// unless the step is refined until the pattern stays put.
func TestHessianBlockIsGGNOnReLUPieces(t *testing.T) {
	cases := []struct {
		name, layer string
		spec        nets.MLPSpec
	}{
		{"plain fc1", "fc1", nets.MLPSpec{Input: 20, Depth: 3, Width: 64, Classes: 5, Bias: true, Activation: graph.ReLU}},
		{"plain fc2", "fc2", nets.MLPSpec{Input: 20, Depth: 3, Width: 64, Classes: 5, Bias: true, Activation: graph.ReLU}},
		{"bn fc3", "fc3", nets.MLPSpec{Input: 20, Depth: 3, Width: 64, Classes: 5, Bias: true, Activation: graph.ReLU, Norm: nets.BatchNorm}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMLP(t, c.spec, 256, 13)
			s, err := m.Weights(c.layer)
			if err != nil {
				t.Fatal(err)
			}
			gv := make([]float64, s.Dim())
			hv := make([]float64, s.Dim())
			errAt := func(o Options, seed uint64) (float64, Stats) {
				h, _ := m.Hessian(s, o)
				g, err := m.GGN(s, o)
				if err != nil {
					t.Fatal(err)
				}
				worst := 0.0
				for k := range uint64(3) {
					v := randomUnit(s.Dim(), seed+k)
					h.Apply(hv, v)
					g.Apply(gv, v)
					if h.Err() != nil || g.Err() != nil {
						t.Fatal(h.Err(), g.Err())
					}
					d := make([]float64, len(hv))
					for i := range d {
						d[i] = hv[i] - gv[i]
					}
					worst = math.Max(worst, norm(d)/norm(gv))
				}
				return worst, h.Stats()
			}
			refined, st := errAt(Options{Differences: true, Step: 1e-4}, 1)
			raw, _ := errAt(Options{Differences: true, Step: 1e-4, Refine: -1}, 1)
			t.Logf("‖Hv − GGNv‖/‖GGNv‖: %.1e refined (%d of %d products refined, %d unresolved), %.1e with the plain step",
				refined, st.Refined, st.Products, st.Unresolved, raw)
			if refined > 1e-6 || st.Unresolved > 0 {
				t.Errorf("refined products differ by %g (%d unresolved)", refined, st.Unresolved)
			}
			if c.layer != "fc3" && (raw < 1e-3 || st.Refined == 0) {
				t.Errorf("the plain step crossed no kink (error %g, %d refined): the test does not exercise refinement", raw, st.Refined)
			}
		})
	}
}

// Max pooling: a window's winner changing within the step is a kink the activation pattern
// does not show. On a ReLU CNN without BatchNorm a convolution's Hessian block is again its
// GGN block on a piece; Verify finds the step at which the products agree.
func TestVerifyCatchesMaxPoolKinks(t *testing.T) {
	spec := nets.CNNSpec{Input: [3]int{8, 8, 2}, Channels: []int{4}, Classes: 3, Activation: graph.ReLU, Bias: true}
	m := newCNN(t, spec, 32, 14)
	s, err := m.Weights("conv1")
	if err != nil {
		t.Fatal(err)
	}
	errAt := func(o Options) (float64, Stats) {
		h, _ := m.Hessian(s, o)
		g, err := m.GGN(s, o)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		hv, gv := make([]float64, s.Dim()), make([]float64, s.Dim())
		for k := range uint64(3) {
			v := randomUnit(s.Dim(), 40+k)
			h.Apply(hv, v)
			g.Apply(gv, v)
			worst = math.Max(worst, relDiff(hv, gv))
		}
		return worst, h.Stats()
	}
	plain, sp := errAt(Options{Differences: true, Step: 1e-3})
	verified, sv := errAt(Options{Differences: true, Step: 1e-3, Verify: true})
	t.Logf("‖Hv − GGNv‖/‖GGNv‖: %.1e with the activation pattern only (%d refined), %.1e verified (%d refined, %d unresolved)",
		plain, sp.Refined, verified, sv.Refined, sv.Unresolved)
	if verified > 1e-6 || sv.Unresolved > 0 {
		t.Errorf("verified products differ by %g (%d unresolved)", verified, sv.Unresolved)
	}
	if plain < 1e-3 {
		t.Errorf("the pattern-only products are right (%g): the test does not exercise Verify", plain)
	}
}
