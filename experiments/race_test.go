package experiments

import "testing"

// TestConcurrentAnalyzerWithoutWork closes a concurrent analyzer whose worker never received
// work: the worker read the queue field that close clears, a data race that -race reports.
func TestConcurrentAnalyzerWithoutWork(t *testing.T) {
	sum := runInto(t, smokeConfig(t, "analysis.concurrent=true", "analysis.every=0", "train.steps=2"), t.TempDir())
	if sum.Status != StatusCompleted {
		t.Fatalf("status %s", sum.Status)
	}
}
