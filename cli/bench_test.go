package cli

import (
	"bytes"
	"strings"
	"testing"
)

// --repeat runs the workloads in rounds and sums them up; a bad count is a usage error.
func TestBenchRepeat(t *testing.T) {
	for _, bad := range []string{"0", "-1", "two"} {
		var stdout, stderr bytes.Buffer
		err := cmdBench([]string{"--repeat", bad, "--no-torch"}, &stdout, &stderr)
		if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), "--repeat") {
			t.Errorf("--repeat %s: got %v, want a usage error naming --repeat", bad, err)
		}
	}
	if testing.Short() {
		t.Skip("benchmarks for seconds; skipped under -short")
	}
	var stdout, stderr bytes.Buffer
	if err := cmdBench([]string{"--only", "eigenvalues_256", "--no-torch", "--repeat", "2"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	for _, want := range []string{"round 1: eigenvalues_256", "round 2: eigenvalues_256", "eigenvalues_256        median of 2 rounds: lwca="} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// The summary gives the median time and the median and range of the side-by-side ratios.
func TestBenchSummaryLine(t *testing.T) {
	got := summaryLine("resnet20_step", []float64{300, 280, 310}, []float64{0.9, 1.1, 0.8})
	want := "resnet20_step          median of 3 rounds: lwca=  300.000 ms  ratio=0.90 (0.80–1.10)"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := summaryLine("w", []float64{2, 4}, nil); !strings.HasSuffix(got, "lwca=    3.000 ms") {
		t.Errorf("no ratios: %q", got)
	}
}
