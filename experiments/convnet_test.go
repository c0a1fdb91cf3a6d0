package experiments

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/lwca/lwca/experiments/config"
)

// writeImageFolder writes a two-class image folder of 8×8 PNGs: reddish and bluish noise.
func writeImageFolder(t *testing.T, dir string, perClass map[string]int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(4, 4))
	for split, n := range perClass {
		for c, class := range []string{"blue", "red"} {
			d := filepath.Join(dir, split, class)
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i++ {
				img := image.NewRGBA(image.Rect(0, 0, 8, 8))
				for p := 0; p < 64; p++ {
					v := uint8(rng.IntN(120))
					strong := uint8(100 + rng.IntN(150))
					col := color.RGBA{v, v, strong, 255}
					if c == 1 {
						col = color.RGBA{strong, v, v, 255}
					}
					img.Set(p%8, p/8, col)
				}
				f, err := os.Create(filepath.Join(d, fmt.Sprintf("%03d.png", i)))
				if err != nil {
					t.Fatal(err)
				}
				png.Encode(f, img)
				f.Close()
			}
		}
	}
}

// A small ResNet of each form trains on an image folder with augmentation, and every
// convolution and the classifier get conditioning records, in both convolution modes.
func TestResNetOnImageFolder(t *testing.T) {
	dir := t.TempDir()
	writeImageFolder(t, dir, map[string]int{"train": 48, "test": 16})
	for _, form := range []string{"original", "preact", "lastbn"} {
		for _, mode := range []string{"patches", "channels"} {
			src := fmt.Sprintf(`name: resnet
data: {dataset: imagefolder, path: %q, batch_size: 16, eval_batch_size: 32, normalize: channels,
       augment: {crop_pad: 1, flip: true}}
model: {arch: resnet, depth: 8, form: %s, widths: [4, 8, 8], init: he_fanout}
optim: {lr: 0.05, momentum: 0.9}
train: {epochs: 4}
analysis: {every: 5, conv_mode: %s}
`, dir, form, mode)
			cfg := parseConfig(t, src)
			out := t.TempDir()
			sum := runInto(t, cfg, out)
			if sum.Status != StatusCompleted {
				t.Fatalf("%s/%s: %+v", form, mode, sum)
			}
			var first, last float64
			recs := readRecords(t, filepath.Join(out, MetricsFile))
			for _, r := range recs {
				if r["type"] == "test" {
					if first == 0 {
						first = r["train_loss"].(float64)
					}
					last = r["train_loss"].(float64)
				}
			}
			if !(last < first) {
				t.Errorf("%s/%s: epoch train loss went from %v to %v", form, mode, first, last)
			}
			layers := map[string]bool{}
			for _, r := range readRecords(t, filepath.Join(out, ConditioningFile)) {
				layers[r["layer"].(string)] = true
				if r["layer"] == "stage1.block1.conv1" && r["factor"] == FactorInput {
					want := 4 * 9
					if mode == "channels" {
						want = 4
					}
					if int(r["dim"].(float64)) != want {
						t.Errorf("%s/%s: Σx of stage1.block1.conv1 has dim %v, want %d", form, mode, r["dim"], want)
					}
				}
			}
			for _, l := range sum.Layers {
				if !layers[l] {
					t.Errorf("%s/%s: no conditioning records for %s", form, mode, l)
				}
			}
			if len(sum.Layers) < 8 || !layers["fc"] {
				t.Errorf("%s/%s: analysed layers %v", form, mode, sum.Layers)
			}
		}
	}
}

func parseConfig(t *testing.T, src string) config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
