package reproduce

import (
	"math"
	"testing"
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
