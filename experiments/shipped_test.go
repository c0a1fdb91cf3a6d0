package experiments

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lwca/lwca/experiments/config"
)

// The shipped configs built from the layer registry (LayerNorm MLP, GroupNorm ResNet,
// depthwise-separable CNN) train, and record Σx, Σ∇h and the Fisher of every weighted layer
// (every group of a grouped convolution), with finite weight norms. They run here on a small
// MNIST sample for a few steps.
func TestShippedLayerConfigsRecordEveryLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three small networks")
	}
	small := []string{"data.dataset=mnist", "data.path=", "data.normalize=standard", "data.train_limit=128",
		"data.test_limit=32", "data.batch_size=16", "data.eval_batch_size=32", "train.steps=3", "analysis.every=2",
		"analysis.fidelity_max_params=0"}
	for _, name := range []string{"mnist_mlp_layernorm", "cifar10_resnet20_groupnorm", "cifar10_dwsep_cnn"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Load(filepath.Join("..", "configs", name+".yaml"), small)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			sum := runInto(t, cfg, dir)
			if sum.Status != StatusCompleted || len(sum.Layers) == 0 {
				t.Fatalf("status %s, layers %v", sum.Status, sum.Layers)
			}
			seen := map[string][]string{}
			for _, r := range readRecords(t, filepath.Join(dir, ConditioningFile)) {
				if r["step"] != 0.0 {
					continue
				}
				l := r["layer"].(string)
				seen[l] = append(seen[l], r["factor"].(string))
				if r["factor"] == "fisher" {
					if w, ok := r["weight_norm"].(float64); !ok || !(w > 0) {
						t.Errorf("%s: weight_norm %v", l, r["weight_norm"])
					}
				}
			}
			for _, l := range sum.Layers {
				if f := seen[l]; !slices.Equal(f, []string{"x", "grad", "fisher"}) {
					t.Errorf("layer %s: factors %v at step 0", l, f)
				}
			}
			if len(seen) != len(sum.Layers) {
				b, _ := json.Marshal(seen)
				t.Errorf("records for %d layers, the network has %d: %s", len(seen), len(sum.Layers), b)
			}
		})
	}
}
