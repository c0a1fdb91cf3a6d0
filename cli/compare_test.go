package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCompareOptions(t *testing.T) {
	cfg := writeConfig(t, strings.Replace(tinySweep, "  model.norm: [none, batchnorm]\n", "", 1))
	sweepDir := filepath.Join(t.TempDir(), "s")
	var stdout, stderr bytes.Buffer
	if err := cmdSweep([]string{cfg, "--out", sweepDir}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "cmp")
	stdout.Reset()
	args := []string{filepath.Join(sweepDir, "seed=1"), filepath.Join(sweepDir, "seed=2"), "--out", out,
		"--steps", "0,4,8", "--p", "1", "--spread", "std", "--title", "two seeds", "--align", "step"}
	if err := cmdCompare(args, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "2 runs in 1 groups, aligned by step at 0, 4, 8") {
		t.Errorf("output:\n%s", stdout.String())
	}
	md, err := os.ReadFile(filepath.Join(out, "tables.md"))
	if err != nil || !strings.Contains(string(md), "# two seeds") || !strings.Contains(string(md), "κ(p=1)@8") {
		t.Errorf("tables.md: %v\n%s", err, md)
	}
	// A p no run recorded is a warning on stderr, naming the recorded ones.
	stderr.Reset()
	if err := cmdCompare([]string{sweepDir, "--out", out, "--p", "0.7"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "lwca: warning: κ_p for p = 0.7") || !strings.Contains(stderr.String(), "recorded p = ") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	// By epoch: the tiny runs have 2 epochs of 6 steps.
	stdout.Reset()
	if err := cmdCompare([]string{sweepDir, "--out", out, "--align", "epoch"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "aligned by epoch at 0, 1") {
		t.Errorf("output:\n%s", stdout.String())
	}
	for _, bad := range [][]string{{}, {sweepDir, "--align", "time"}, {sweepDir, "--steps", "1,x"}, {sweepDir, "--p", "2"},
		{sweepDir, "--spread", "iqr"}, {sweepDir, "--smooth", "0"}, {sweepDir, "--bogus"}} {
		var ue usageError
		if err := cmdCompare(bad, &stdout, &stderr); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
	if err := cmdCompare([]string{t.TempDir()}, &stdout, &stderr); err == nil {
		t.Error("compare of an empty directory succeeded")
	}
	if got, err := intList("0, 5,10"); err != nil || !slices.Equal(got, []int{0, 5, 10}) {
		t.Errorf("intList: %v %v", got, err)
	}
}
