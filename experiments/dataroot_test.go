package experiments

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lwca/lwca/experiments/config"
)

// Data named in the data root is found there; when it is missing, a run fails before it
// creates its directory, with a message naming the folder and how to fetch the data.
func TestRunFindsDataInRoot(t *testing.T) {
	root := t.TempDir()
	t.Setenv("LWCA_DATA", root)

	cifar := parseConfig(t, "data: {dataset: cifar10, normalize: cifar10}\nmodel: {arch: cnn, channels: [4], pool_every: 1}\n")
	out := filepath.Join(t.TempDir(), "run")
	_, err := Run(context.Background(), cifar, out, Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CIFAR-10 missing: error %v, want one matching fs.ErrNotExist", err)
	}
	for _, w := range []string{"CIFAR-10 not found in " + filepath.Join(root, "cifar10"), "LWCA_DATA", "fetch it with: lwca data get cifar10"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("CIFAR-10 missing: error %v does not mention %q", err, w)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a run whose data is missing left %s behind (%v)", out, err)
	}

	cfg := parseConfig(t, `data: {dataset: imagefolder, path: $LWCA_DATA/shapes, batch_size: 8, normalize: channels}
model: {arch: mlp, depth: 2, width: 8}
train: {steps: 2}
analysis: {every: 0}
`)
	if _, err := Run(context.Background(), cfg, out, Options{}); err == nil || !strings.Contains(err.Error(), filepath.Join(root, "shapes")) {
		t.Errorf("image folder missing: error %v, want one naming %s", err, filepath.Join(root, "shapes"))
	}
	writeImageFolder(t, filepath.Join(root, "shapes"), map[string]int{"train": 8, "test": 4})
	sum := runInto(t, cfg, out)
	if sum.Status != StatusCompleted || sum.Data != "shapes" {
		t.Errorf("summary: status %s, data %q; want completed, shapes", sum.Status, sum.Data)
	}
	// The run's config keeps the path as written, so it resumes wherever the root is.
	b, err := os.ReadFile(filepath.Join(out, ConfigFile))
	if err != nil || !bytes.Contains(b, []byte("path: $LWCA_DATA/shapes")) {
		t.Errorf("%s: %v\n%s\nwant data.path kept as $LWCA_DATA/shapes", ConfigFile, err, b)
	}
}

// Every shipped config's data is found where the config says, when it is there: CI points
// LWCA_DATA at a root holding the CIFAR-10 copy. Data that is absent skips that config only,
// unless LWCA_REQUIRE_DATA=1 (CI), which makes it a failure.
func TestShippedConfigData(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../configs/*.yaml", "../configs/*/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(f), "../configs/"), ".yaml"), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.HasPrefix(src, []byte("sweep:")) || bytes.Contains(src, []byte("\nsweep:")) {
				t.Skip("a sweep: its base data is that of the configs it expands to")
			}
			cfg, err := config.Load(f, nil)
			if err != nil {
				t.Fatal(err) // config.TestShippedConfigs says more
			}
			_, err = DataSource(cfg.Data)
			if errors.Is(err, fs.ErrNotExist) && os.Getenv("LWCA_REQUIRE_DATA") != "1" {
				t.Skip(err) // it names the folder and LWCA_DATA
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
}
