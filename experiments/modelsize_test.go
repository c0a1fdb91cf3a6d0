package experiments

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/train"
)

// TestCountParamsMatchesStore: the count the size check uses is what the store allocates,
// for every kind of shipped network.
func TestCountParamsMatchesStore(t *testing.T) {
	for _, c := range []struct {
		file  string
		set   []string
		shape []int
	}{
		{"mnist_mlp_bn.yaml", nil, []int{28, 28, 1}},
		{"cifar10_cnn_bn.yaml", nil, []int{32, 32, 3}},
		{"cifar10_resnet20_layers.yaml", nil, []int{32, 32, 3}},
		{"cifar10_resnet20_original.yaml", []string{"model.shortcut=B"}, []int{32, 32, 3}},
		{"cifar10_resnet20_groupnorm.yaml", nil, []int{32, 32, 3}},
		{"cifar10_dwsep_cnn.yaml", nil, []int{32, 32, 3}},
		{"mnist_mlp_layernorm.yaml", []string{"model.bias=false"}, []int{28, 28, 1}},
	} {
		cfg, err := config.Load(filepath.Join("..", "configs", c.file), c.set)
		if err != nil {
			t.Fatal(err)
		}
		net, store, err := BuildModel(cfg, c.shape, 10)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := train.NewTrainer(net, store, 2, c.shape[0]*c.shape[1]*c.shape[2]); err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, p := range store.Params() {
			n += int64(p.Value.Size())
		}
		for _, b := range store.Buffers() {
			n += int64(b.Value.Size())
		}
		if got := graph.CountParams(net); got != n {
			t.Errorf("%s %v: CountParams %d, the store holds %d", c.file, c.set, got, n)
		}
	}
}

func TestModelTooLargeIsRefused(t *testing.T) {
	t.Setenv(ModelMemoryEnv, "1M")
	cfg := smokeConfig(t, "model.width=1000")
	_, _, err := BuildModel(cfg, []int{8}, 3)
	// 8·1000+1000 + 1000·1000+1000 + 1000·3+3 weights and biases, 4·1000·2 BatchNorm values.
	want := "model: 1021003 parameters would need about 15.6 MiB (4-byte values, 4 copies: values, gradients, optimiser state), more than the 1 MiB allowed (LWCA_MODEL_MEMORY)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if _, _, err := BuildModel(smokeConfig(t), []int{8}, 3); err != nil {
		t.Errorf("the smoke model: %v", err)
	}
	t.Setenv(ModelMemoryEnv, "lots")
	if _, _, err := BuildModel(cfg, []int{8}, 3); err == nil || !strings.Contains(err.Error(), "LWCA_MODEL_MEMORY=lots: expected a positive number of bytes") {
		t.Errorf("a bad limit: %v", err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "512M": 512 << 20, "16G": 16 << 30, "16GiB": 16 << 30, "2k": 2048, "1.5T": 3 << 39} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "B", "-1", "0", "G", "1e400"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q): no error", in)
		}
	}
}

// TestSetupStopsOnCancel: a network deep enough that building its programs takes minutes
// stops promptly, with status stopped, when the context ends during setup.
func TestSetupStopsOnCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds part of a 100000-layer network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var progress bytes.Buffer
	type result struct {
		sum *Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := Run(ctx, smokeConfig(t, "model.depth=100000", "model.width=2", "model.norm=none"), t.TempDir(), Options{Progress: &progress})
		done <- result{sum, err}
	}()
	select {
	case r := <-done:
		if r.err != nil || r.sum.Status != StatusStopped || r.sum.Steps != 0 {
			t.Fatalf("summary %+v, err %v", r.sum, r.err)
		}
		if !strings.Contains(progress.String(), "stopped during setup") {
			t.Errorf("progress %q does not say the run stopped during setup", progress.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("setup went on for a minute after the context ended")
	}
}
