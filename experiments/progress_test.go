package experiments

import (
	"strings"
	"testing"
	"time"
)

// The remaining time is the elapsed time per step done in this process times the steps left,
// also when the run was resumed part-way.
func TestProgressEstimate(t *testing.T) {
	var out strings.Builder
	p := newProgress(Options{Progress: &out}, "run", 100, 0, 10) // a fresh run
	if got := p.etaAt(10, 20*time.Second); got != "elapsed 20s eta 3m0s" {
		t.Errorf("fresh run, 10 of 100 steps in 20 s: %q", got)
	}
	p = newProgress(Options{Progress: &out}, "run", 100, 60, 10) // resumed: 60 steps were done by an earlier process
	if got := p.etaAt(70, 20*time.Second); got != "elapsed 20s eta 1m0s" {
		t.Errorf("resumed at 60, 10 more steps in 20 s: %q", got)
	}
	if got := p.etaAt(60, time.Second); got != "" {
		t.Errorf("no step done yet in this process: %q", got)
	}
}
