package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lwca/lwca/data"
)

// TestReproduceQuick runs the quick variant of every reproduction (about four minutes on two
// cores, all told) and asserts that each effect goes the paper's way: the headline check of
// each finding (its first check line) must hold. The finer per-layer checks are reported, not
// asserted: two of bn-conditioning's do not hold here (see REPRODUCTION.md). It is skipped
// under -short, and the last-layer study is skipped when CIFAR-10 is not in the data root
// (a failure under LWCA_REQUIRE_DATA=1).
func TestReproduceQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real training for minutes; skipped under -short")
	}
	for _, name := range []string{"bn-stability", "bn-conditioning", "false-minimum", "last-layer"} {
		t.Run(name, func(t *testing.T) {
			if name == "last-layer" {
				if _, err := data.DefaultCIFAR10Dir(); err != nil {
					if os.Getenv("LWCA_REQUIRE_DATA") == "1" {
						t.Fatalf("LWCA_REQUIRE_DATA=1 but %v", err)
					}
					t.Skip(err) // it names the folder looked in and LWCA_DATA
				}
			}
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			if err := cmdReproduce([]string{name, "--quick", "--out", out}, &stdout, &stderr); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			text := stdout.String()
			t.Log(text)
			// The checks are recomputed from the run files; the headline one must hold.
			headline := ""
			for _, line := range strings.Split(text, "\n") {
				if l := strings.TrimSpace(line); strings.HasPrefix(l, "PASS ") || strings.HasPrefix(l, "FAIL ") {
					headline = l
					break
				}
			}
			if !strings.HasPrefix(headline, "PASS ") {
				t.Errorf("%s: the expected direction does not hold (%q):\n%s", name, headline, text)
			}
			for _, f := range []string{"checks.md", "checks.json", "compare/report.html", "compare/tables.md"} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
}

func TestReproduceUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := cmdReproduce([]string{"no-such-finding"}, &stdout, &stderr)
	if _, ok := err.(usageError); !ok {
		t.Fatalf("unknown name: got %v, want a usage error", err)
	}
	if err := cmdReproduce(nil, &stdout, &stderr); err == nil {
		t.Fatal("no name: want an error")
	}
	// --dry-run lists the runs without training: 2 norms × 6 rates in the quick grid.
	stdout.Reset()
	if err := cmdReproduce([]string{"bn-stability", "--quick", "--dry-run"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 12 || !strings.HasPrefix(lines[0], "plain_lr0.05\t") || !strings.HasPrefix(lines[11], "bn_lr2\t") {
		t.Errorf("dry run: got %d lines:\n%s", len(lines), stdout.String())
	}
}
