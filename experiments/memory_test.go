package experiments

import (
	"path/filepath"
	"runtime"
	"testing"
)

// heapAfterGC is the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// liveHeapGrowth runs cfg and returns the live heap at two late points of the run.
func liveHeapGrowth(t *testing.T, src string, early, late int) (uint64, uint64) {
	t.Helper()
	var at [2]uint64
	opts := Options{AfterStep: func(step int) {
		switch step {
		case early:
			at[0] = heapAfterGC()
		case late:
			at[1] = heapAfterGC()
		}
	}}
	cfg := parseConfig(t, src)
	if _, err := Run(t.Context(), cfg, t.TempDir(), opts); err != nil {
		t.Fatal(err)
	}
	return at[0], at[1]
}

// Memory is flat over a run: after the first epochs, training, analysis, evaluation and
// checkpoints hold no growing state (the live heap late in the run is no larger than early,
// up to a small slack).
func TestMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 600 steps")
	}
	const mlp = `name: mem
data: {dataset: synthetic, batch_size: 32, synthetic: {classes: 4, dim: 64, train: 3200, test: 200}}
model: {arch: mlp, depth: 3, width: 64, norm: batchnorm}
optim: {lr: 0.02, momentum: 0.9}
train: {epochs: 6, checkpoint_every: 50}
analysis: {every: 10, save_weights_every: 100}
`
	a, b := liveHeapGrowth(t, mlp, 199, 599)
	if b > a+2<<20 {
		t.Errorf("MLP run: live heap grew from %d to %d bytes between steps 199 and 599", a, b)
	}
	dir := t.TempDir()
	writeImageFolder(t, dir, map[string]int{"train": 64, "test": 16})
	conv := `name: memconv
data: {dataset: imagefolder, path: ` + filepath.ToSlash(dir) + `, batch_size: 16, normalize: channels, augment: {crop_pad: 1, flip: true}}
model: {arch: resnet, depth: 8, widths: [4, 8, 8], init: he_fanout}
optim: {lr: 0.05, momentum: 0.9}
train: {epochs: 25, checkpoint_every: 40}
analysis: {every: 5}
`
	a, b = liveHeapGrowth(t, conv, 49, 199)
	if b > a+2<<20 {
		t.Errorf("ResNet run: live heap grew from %d to %d bytes between steps 49 and 199", a, b)
	}
	t.Logf("live heap: ResNet-8 %d → %d bytes", a, b)
}
