package optim

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"gorgonia.org/tensor"
)

// torchReference is testdata/torch_reference.json, written by testdata/torch_reference.py.
type torchReference struct {
	TorchVersion string      `json:"torch_version"`
	W0           []float64   `json:"w0"`
	Grads        [][]float64 `json:"grads"`
	LR           []float64   `json:"lr"`
	Cases        []struct {
		Optimizer   string          `json:"optimizer"`
		Dtype       string          `json:"dtype"`
		Options     json.RawMessage `json:"options"`
		WeightDecay float64         `json:"weight_decay"`
		Weights     [][]float64     `json:"weights"`
	} `json:"cases"`
}

// PyTorch's optimisers, fed the same gradients, end every step at the same weights: to
// float64 round-off, and within a few float32 rounding steps.
func TestMatchesPyTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/torch_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref torchReference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range ref.Cases {
		f, err := Optimizers.Lookup(c.Optimizer)
		if err != nil {
			t.Fatal(err)
		}
		// The keys are the options' yaml keys, which JSON matches to the field names.
		options := f.Options()
		if err := json.Unmarshal(c.Options, options); err != nil {
			t.Fatal(err)
		}
		opt, err := New(c.Optimizer, options, c.WeightDecay)
		name := fmt.Sprintf("%s %+v λ=%v %s", c.Optimizer, options, c.WeightDecay, c.Dtype)
		if err != nil {
			t.Fatal(err)
		}
		dtype, tol := tensor.Float64, 1e-15
		if c.Dtype == "float32" {
			dtype, tol = tensor.Float32, 3e-7 // a few float32 roundings
		}
		w, g := vec(dtype, ref.W0), vec(dtype, ref.W0)
		worst := 0.0
		for k, want := range c.Weights {
			set(g, ref.Grads[k])
			if err := opt.Step([]*tensor.Dense{w}, []*tensor.Dense{g}, ref.LR[k]); err != nil {
				t.Fatal(err)
			}
			for j, got := range values(w) {
				e := math.Abs(got-want[j]) / math.Max(1, math.Abs(want[j]))
				worst = math.Max(worst, e)
				if e > tol {
					t.Errorf("%s step %d: w[%d]=%v, PyTorch %s %v", name, k, j, got, ref.TorchVersion, want[j])
				}
			}
		}
		t.Logf("%s: largest relative difference %.3g", name, worst)
	}
}
