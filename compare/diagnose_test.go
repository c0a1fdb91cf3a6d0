package compare

import (
	"math"
	"testing"

	"github.com/lwca/lwca/rundir"
)

func numbers(f Finding) map[string]float64 {
	m := map[string]float64{}
	for _, n := range f.Numbers {
		m[n.Name] = n.Value
	}
	return m
}

func findings(t *testing.T, kind string, specs ...*spec) []Finding {
	t.Helper()
	root := t.TempDir()
	var dirs []string
	for _, s := range specs {
		dirs = append(dirs, s.write(t, root))
	}
	var out []Finding
	for _, f := range Diagnose(loadAll(t, dirs...), "kappa_p0.5", Thresholds{}) {
		if f.Diagnostic == kind {
			out = append(out, f)
		}
	}
	return out
}

func TestDiagnoseStability(t *testing.T) {
	crossing := &spec{name: "hot", seed: 1, layers: 3, every: 10, steps: 101,
		val: func(s *spec, layer int, factor, key string, step int) float64 {
			if key == "stability_ratio" && layer == 1 {
				return 0.5 + float64(step)/40 // exactly 1 at step 20, above from step 30
			}
			return baseVal(s, layer, factor, key, step)
		}}
	fs := findings(t, DiagStability, crossing, &spec{name: "calm", seed: 1, layers: 3, every: 10, steps: 101})
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1 (fc2 of run hot): %+v", len(fs), fs)
	}
	f := fs[0]
	n := numbers(f)
	if f.Run != "hot" || f.Layer != "fc2" || f.Step != 30 || n["first_step"] != 30 || n["max_ratio"] != 3 ||
		n["max_step"] != 100 || n["steps_above"] != 8 || n["steps_analysed"] != 11 || n["lr"] != 0.1 {
		t.Errorf("finding %+v", f)
	}
}

// bnPlateau is a BatchNorm run whose loss is flat at 0.8 while fc1's gradient norm falls as
// 1/(1+step/50) and its weight norm grows as 1+step/100: the false-minimum pattern.
func bnPlateau(name string) *spec {
	return &spec{name: name, seed: 1, norm: "batchnorm", layers: 2, every: 10, steps: 101,
		loss: func(step int) float64 { return 0.8 + 0.01*math.Sin(float64(step)) },
		val: func(s *spec, layer int, factor, key string, step int) float64 {
			if layer == 0 && key == "grad_norm" {
				return 1 / (1 + float64(step)/50)
			}
			if layer == 0 && key == "weight_norm" {
				return 1 + float64(step)/100
			}
			return baseVal(s, layer, factor, key, step)
		}}
}

func TestDiagnoseFalseMinimum(t *testing.T) {
	s := bnPlateau("plateau")
	fs := findings(t, DiagFalseMinimum, s)
	if len(fs) != 1 || fs[0].Layer != "fc1" {
		t.Fatalf("findings %+v, want one for fc1", fs)
	}
	n := numbers(fs[0])
	// The window is the last 6 analysis steps, 50…100; start = steps 50, 60; end = 90, 100.
	mean := func(from, to int) float64 {
		sum := 0.0
		for st := from; st <= to; st++ {
			sum += s.lossAt(st)
		}
		return sum / float64(to-from+1)
	}
	g := func(st int) float64 { return 1 / (1 + float64(st)/50) }
	w := func(st int) float64 { return 1 + float64(st)/100 }
	want := map[string]float64{"window_start": 50, "window_end": 100, "loss_start": mean(50, 59), "loss_end": mean(90, 100),
		"grad_norm_start": (g(50) + g(60)) / 2, "grad_norm_end": (g(90) + g(100)) / 2,
		"weight_norm_start": (w(50) + w(60)) / 2, "weight_norm_end": (w(90) + w(100)) / 2}
	for k, v := range want {
		if math.Abs(n[k]-v) > 1e-12 {
			t.Errorf("%s = %v, want %v", k, n[k], v)
		}
	}

	// Each condition alone switches it off.
	plain := bnPlateau("plain")
	plain.norm = "none"
	falling := bnPlateau("falling")
	falling.loss = func(step int) float64 { return 2 / (1 + float64(step)/10) }
	fitted := bnPlateau("fitted")
	fitted.loss = func(int) float64 { return 0.01 }
	still := bnPlateau("still")
	still.val = func(s *spec, layer int, factor, key string, step int) float64 {
		if layer == 0 && key == "grad_norm" {
			return 1 / (1 + float64(step)/50)
		}
		return baseVal(s, layer, factor, key, step) // weight norm constant
	}
	diverged := bnPlateau("diverged")
	diverged.diverged = true
	short := bnPlateau("short")
	short.steps = 31 // 4 analysis steps: the smallest window
	if fs := findings(t, DiagFalseMinimum, plain, falling, fitted, still, diverged); len(fs) != 0 {
		t.Errorf("false positives: %+v", fs)
	}
	short.val = func(s *spec, layer int, factor, key string, step int) float64 {
		if layer == 0 && key == "grad_norm" {
			return 1 / (1 + float64(step)/5)
		}
		if layer == 0 && key == "weight_norm" {
			return 1 + float64(step)/10
		}
		return baseVal(s, layer, factor, key, step)
	}
	if fs := findings(t, DiagFalseMinimum, short); len(fs) != 1 || numbers(fs[0])["window_start"] != 0 {
		t.Errorf("4-step window: %+v", fs)
	}
}

func TestDiagnoseLastLayer(t *testing.T) {
	lastKappa := func(name string, last float64) *spec {
		return &spec{name: name, seed: 1, layers: 4, every: 10, steps: 51,
			val: func(s *spec, layer int, factor, key string, step int) float64 {
				if factor == rundir.FactorX && key == "kappa_p0.5" {
					if layer == 3 {
						return last
					}
					return float64(10 * (layer + 1)) // 10, 20, 30: median 20
				}
				if factor == rundir.FactorX && key == "lambda_max" {
					return 1
				}
				return baseVal(s, layer, factor, key, step)
			}}
	}
	bad, fine := lastKappa("bad", 1000), lastKappa("fine", 150)
	fs := findings(t, DiagLastLayer, bad, fine)
	if len(fs) != 1 || fs[0].Run != "bad" || fs[0].Layer != "fc4" || fs[0].Step != 50 {
		t.Fatalf("findings %+v, want one for run bad, layer fc4, step 50", fs)
	}
	n := numbers(fs[0])
	if n["kappa_p0.5_last"] != 1000 || n["kappa_p0.5_median_others"] != 20 || n["kappa_p0.5_ratio"] != 50 || n["lambda_max_ratio"] != 1 {
		t.Errorf("numbers %v", n)
	}
	// λmax alone also fires it.
	wide := lastKappa("wide", 20)
	wide.val = func(s *spec, layer int, factor, key string, step int) float64 {
		if factor == rundir.FactorX && key == "lambda_max" {
			return map[bool]float64{true: 500, false: 2}[layer == 3]
		}
		return baseVal(s, layer, factor, key, step)
	}
	if fs := findings(t, DiagLastLayer, wide); len(fs) != 1 || numbers(fs[0])["lambda_max_ratio"] != 250 {
		t.Errorf("λmax: %+v", fs)
	}
}

// The fixtures of the other tests show none of the patterns.
func TestDiagnoseQuietOnOrdinaryRuns(t *testing.T) {
	root := t.TempDir()
	_, dirs := groupFixture(t, root)
	if fs := Diagnose(loadAll(t, dirs...), "kappa_p0.5", Thresholds{}); len(fs) != 0 {
		t.Errorf("findings on ordinary runs: %+v", fs)
	}
}
