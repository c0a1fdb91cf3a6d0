package experiments

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/lwca/lwca/experiments/config"
)

// The shipped configs that declare the MLP, the CNN and ResNet-20 layer by layer train exactly
// as the presets they spell out: byte-identical metrics and conditioning records. Both run on a
// small MNIST sample, for a few steps, with analysis on.
func TestDeclaredLayersEqualPresets(t *testing.T) {
	if testing.Short() {
		t.Skip("trains six small networks")
	}
	small := []string{"data.dataset=mnist", "data.path=", "data.normalize=standard", "data.train_limit=256",
		"data.test_limit=64", "data.batch_size=16", "data.eval_batch_size=64", "train.steps=4",
		"analysis.every=2", "analysis.fidelity_max_params=3000"}
	for _, c := range []struct{ preset, declared string }{
		{"mnist_mlp_bn", "mnist_mlp_bn_layers"},
		{"cifar10_cnn_bn", "cifar10_cnn_bn_layers"},
		{"cifar10_resnet20_original", "cifar10_resnet20_layers"},
	} {
		t.Run(c.declared, func(t *testing.T) {
			var out [2]string
			for i, name := range []string{c.preset, c.declared} {
				cfg, err := config.Load(filepath.Join("..", "configs", name+".yaml"), append(small, "name=same"))
				if err != nil {
					t.Fatal(err)
				}
				if i == 1 && cfg.Model.Arch != config.ArchLayers {
					t.Fatalf("%s: arch %q, want layers", name, cfg.Model.Arch)
				}
				out[i] = t.TempDir()
				if sum := runInto(t, cfg, out[i]); sum.Status != "completed" {
					t.Fatalf("%s: status %s", name, sum.Status)
				}
			}
			for _, f := range []string{"metrics.jsonl", "conditioning.jsonl"} {
				a, err := os.ReadFile(filepath.Join(out[0], f))
				if err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(filepath.Join(out[1], f))
				if err != nil {
					t.Fatal(err)
				}
				if len(a) == 0 || !bytes.Equal(a, b) {
					t.Errorf("%s differs between %s (%d bytes) and %s (%d bytes)", f, c.preset, len(a), c.declared, len(b))
				}
			}
		})
	}
}
