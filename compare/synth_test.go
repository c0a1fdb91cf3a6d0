package compare

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/rundir"
)

// spec describes a synthetic run directory whose every value is known in closed form.
type spec struct {
	name     string
	seed     int
	norm     string
	lr       float64
	layers   int
	every    int // analysis interval
	steps    int // steps trained (the last one diverging, if diverged)
	perEpoch int
	diverged bool
	noConfig bool
	// val gives a record value; nil uses baseVal.
	val  func(s *spec, layer int, factor, key string, step int) float64
	loss func(step int) float64 // nil: 2/(1+step/10)
}

func layerName(i int) string { return fmt.Sprintf("fc%d", i+1) }

// baseVal is the default closed form of the records: distinct per run, layer, factor, step.
func baseVal(s *spec, layer int, factor, key string, step int) float64 {
	fi := map[string]float64{rundir.FactorX: 0, rundir.FactorGrad: 1, rundir.FactorFisher: 2}[factor]
	seed := 1 + float64(s.seed)/10
	switch key {
	case "lambda_max":
		return float64(layer+1) * math.Pow(10, fi) * (1 + float64(step)/100) * seed * s.lr * 10
	case "kappa_p0.5":
		return 100*float64(layer+1)*seed + float64(step) + 1000*fi
	case "kappa_p1":
		if factor != rundir.FactorX {
			return math.Inf(1)
		}
		return 1e4
	case "stability_ratio":
		return 0.01 * float64(layer+1)
	case "grad_norm", "weight_norm":
		return 1
	}
	return 0
}

func (s *spec) value(layer int, factor, key string, step int) float64 {
	if s.val != nil {
		return s.val(s, layer, factor, key, step)
	}
	return baseVal(s, layer, factor, key, step)
}

func (s *spec) lossAt(step int) float64 {
	if s.diverged && step == s.steps-1 {
		return math.NaN()
	}
	if s.loss != nil {
		return s.loss(step)
	}
	return 2 / (1 + float64(step)/10)
}

func (s *spec) accAt(step int) float64 { return 0.5 + 0.4*float64(step)/float64(s.steps) }

// write creates the run directory under root and returns its path.
func (s *spec) write(t *testing.T, root string) string {
	t.Helper()
	if s.lr == 0 {
		s.lr = 0.1
	}
	if s.norm == "" {
		s.norm = "none"
	}
	if s.perEpoch == 0 {
		s.perEpoch = 1 << 30
	}
	dir := filepath.Join(root, s.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if !s.noConfig {
		cfg := fmt.Sprintf("name: %s\nseed: %d\ndata:\n  dataset: synthetic\nmodel:\n  norm: %s\n  depth: %d\noptim:\n  lr: %v\nanalysis:\n  every: %d\n  p: [0.5, 1]\n",
			s.name, s.seed, s.norm, s.layers, s.lr, s.every)
		writeFile(t, filepath.Join(dir, rundir.ConfigFile), cfg)
	}
	var metrics, cond strings.Builder
	enc := func(b *strings.Builder, v any) {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	var layers []string
	for l := range s.layers {
		layers = append(layers, layerName(l))
	}
	var epochLoss, epochAcc float64
	var seen int
	var final [4]float64
	for step := range s.steps {
		epoch := step / s.perEpoch
		loss := s.lossAt(step)
		enc(&metrics, analysis.Record{{Key: "type", Value: "train"}, {Key: "step", Value: step}, {Key: "epoch", Value: epoch},
			{Key: "lr", Value: s.lr}, {Key: "loss", Value: analysis.Float(loss)}, {Key: "accuracy", Value: s.accAt(step)}})
		if s.diverged && step == s.steps-1 {
			break
		}
		if step%s.every == 0 {
			for l := range s.layers {
				for _, f := range rundir.Factors {
					rec := analysis.Record{{Key: "step", Value: step}, {Key: "epoch", Value: epoch},
						{Key: "layer", Value: layerName(l)}, {Key: "factor", Value: f}, {Key: "dim", Value: 8}}
					for _, k := range []string{"lambda_max", "kappa_p0.5", "kappa_p1"} {
						rec = append(rec, analysis.Field{Key: k, Value: analysis.Float(s.value(l, f, k, step))})
					}
					if r := s.value(l, f, "numerical_rank", step); r != 0 { // written only when a test sets it
						rec = append(rec, analysis.Field{Key: "numerical_rank", Value: r})
					}
					if f == rundir.FactorFisher {
						for _, k := range []string{"weight_norm", "grad_norm", "stability_ratio"} {
							rec = append(rec, analysis.Field{Key: k, Value: analysis.Float(s.value(l, f, k, step))})
						}
					}
					enc(&cond, rec)
				}
			}
		}
		epochLoss += loss
		epochAcc += s.accAt(step)
		seen++
		if (step+1)%s.perEpoch == 0 || step == s.steps-1 {
			testAcc := 0.6 + 0.3*float64(step)/float64(s.steps)
			final = [4]float64{epochLoss / float64(seen), epochAcc / float64(seen), loss, testAcc}
			enc(&metrics, map[string]any{"type": "test", "step": step, "epoch": epoch, "train_loss": final[0],
				"train_accuracy": final[1], "test_loss": final[2], "test_accuracy": final[3]})
			epochLoss, epochAcc, seen = 0, 0, 0
		}
	}
	writeFile(t, filepath.Join(dir, rundir.MetricsFile), metrics.String())
	writeFile(t, filepath.Join(dir, rundir.ConditioningFile), cond.String())
	sum := map[string]any{"name": s.name, "status": rundir.StatusCompleted, "steps": s.steps, "layers": layers,
		"final":              map[string]any{"train_loss": final[0], "train_accuracy": final[1], "test_loss": final[2], "test_accuracy": final[3]},
		"best_test_accuracy": final[3], "wall_seconds": 1.5}
	if s.diverged {
		sum["status"] = rundir.StatusDiverged
		sum["diverged_at_step"] = s.steps - 1
	}
	j, _ := json.MarshalIndent(sum, "", "  ")
	writeFile(t, filepath.Join(dir, rundir.SummaryFile), string(j))
	return dir
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lastAnalysed is the closed form of step alignment for a synthetic run: the latest analysis
// step at or before t, or -1 if the run has no value there.
func (s *spec) lastAnalysed(t int) int {
	lastTrained := s.steps - 1
	lastRec := s.steps - 1
	if s.diverged {
		lastRec = s.steps - 2 // no analysis at the diverging step
	}
	if t > lastTrained || t < 0 {
		return -1
	}
	a := min(t, lastRec) / s.every * s.every
	return a
}

func loadAll(t *testing.T, dirs ...string) []*Run {
	t.Helper()
	runs, _, err := Discover(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}
