package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lwca/lwca/cli"
)

var small = []string{"--set", "data.train_limit=512", "--set", "data.test_limit=128", "--set", "train.steps=12",
	"--set", "analysis.every=4", "--set", "data.batch_size=32", "--set", "model.width=32"}

func lwca(t *testing.T, args ...string) {
	t.Helper()
	var out strings.Builder
	if code := cli.Run(args, io.Discard, &out); code != 0 {
		t.Fatalf("lwca %s: exit %d\n%s", strings.Join(args, " "), code, out.String())
	}
}

// This module's layer types reach lwca's run, sweep and compare from YAML, and its weighted
// layer gets conditioning records through lwca's hooks alone.
func TestRunSweepCompare(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "ws")
	lwca(t, "run", "configs/mnist_ws_rms.yaml", "--out", run, "--set", "train.steps=12",
		"--set", "analysis.every=4", "--set", "data.train_limit=512", "--set", "data.test_limit=128")
	layers := map[string]map[string]bool{}
	f, err := os.Open(filepath.Join(run, "conditioning.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for s := bufio.NewScanner(f); s.Scan(); {
		var r struct{ Layer, Factor string }
		if err := json.Unmarshal(s.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if layers[r.Layer] == nil {
			layers[r.Layer] = map[string]bool{}
		}
		layers[r.Layer][r.Factor] = true
	}
	for _, l := range []string{"fc1", "fc2", "fc3", "fc4"} {
		if !layers[l]["x"] || !layers[l]["grad"] || !layers[l]["fisher"] {
			t.Errorf("ws_linear layer %s: factors %v", l, layers[l])
		}
	}

	sweep := filepath.Join(dir, "sweep")
	lwca(t, append([]string{"sweep", "configs/mnist_ws_vs_bn.yaml", "--out", sweep, "--workers", "2"}, small...)...)
	for _, run := range []string{"arch=mlp,lr=0.05", "arch=ws_mlp,lr=0.5"} {
		b, err := os.ReadFile(filepath.Join(sweep, run, "summary.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"status": "completed"`) && !strings.Contains(string(b), `"status": "diverged"`) {
			t.Errorf("%s: %s", run, b)
		}
	}
	lwca(t, "compare", sweep, run, "--out", filepath.Join(dir, "cmp"))
	if _, err := os.Stat(filepath.Join(dir, "cmp", "report.html")); err != nil {
		t.Error(err)
	}
}
