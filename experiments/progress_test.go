package experiments

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vbauerster/mpb/v8"
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

// Off a terminal a run prints plain lines every `every` steps, in the format logs have always
// had; a layer's analysis adds a line only under Verbose.
func TestProgressPlainLines(t *testing.T) {
	var out strings.Builder
	p := newProgress(Options{Progress: &out}, "run", 20, 0, 10)
	if p.bar != nil || p.display != nil {
		t.Fatal("a strings.Builder got a progress bar")
	}
	for step := range 20 {
		p.step(step, step/10, 0.5, 0.1)
		p.layer(step, 1, 2, "fc1", time.Millisecond)
	}
	p.message("run: epoch %d", 1)
	p.close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := regexp.MustCompile(`^run step (1|11|20)/20 epoch [01] loss 0\.5000 lr 0\.1 elapsed \d+s eta \d+s$`)
	if len(lines) != 4 || !want.MatchString(lines[0]) || !want.MatchString(lines[1]) || !want.MatchString(lines[2]) || lines[3] != "run: epoch 1" {
		t.Errorf("plain lines:\n%s", out.String())
	}

	out.Reset()
	p = newProgress(Options{Progress: &out, Verbose: true}, "run", 20, 0, 0)
	p.layer(4, 0, 2, "", 0)
	p.layer(4, 1, 2, "fc1", 1500*time.Microsecond)
	if got := out.String(); got != "run: step 4: analysed fc1 (layer 1 of 2) in 2ms\n" {
		t.Errorf("verbose layer line: %q", got)
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if d := NewDisplay(f); d != nil {
		t.Error("a regular file got a terminal display")
	}
}

// On a terminal of 70 columns every line of the bars fits (a longer one would wrap, and
// each redraw would leave a line behind); two runs trained at once get a bar each, and a
// bar says which layer the analysis is at.
func TestProgressBarFitsWidth(t *testing.T) {
	const width = 70
	var buf bytes.Buffer // written by the display's goroutine, read after Wait
	refresh := make(chan any)
	d := newDisplay(mpb.WithOutput(&buf), mpb.WithWidth(width), mpb.WithManualRefresh(refresh))
	// redraw returns once a redraw is done: the second request is taken only after the
	// first started, and the display writes a line only after a redraw ends.
	redraw := func() {
		refresh <- nil
		refresh <- nil
		d.Write(nil)
	}
	a := newProgress(Options{Progress: &buf, Display: d}, "mnist_bn_vs_plain_lr:norm=batchnorm,lr=0.1,seed=1", 1000, 0, 10)
	b := newProgress(Options{Progress: &buf, Display: d}, "worker-two", 1000, 400, 10)
	for step := range 30 {
		a.step(step, 0, 2.302585, 0.1)
		b.step(400+step, 3, 0.25, 0.001)
		redraw()
	}
	a.layer(30, 1, 4, "fc1", time.Millisecond)
	redraw()
	a.message("mnist: epoch 0 train loss 0.3000 acc 0.9100, test loss 0.2900 acc 0.9200")
	a.layer(30, 4, 4, "fc4", time.Millisecond)
	redraw()
	a.close()
	b.close()
	redraw() // the bars end here; a line written after them still shows
	d.Write([]byte("after the bars\n"))
	d.Wait()

	out := regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`).ReplaceAllString(buf.String(), "")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "mnist: epoch") {
			continue // a line above the bars is printed once, not redrawn: it may wrap
		}
		if n := utf8.RuneCountInString(strings.TrimRight(line, "\r")); n > width {
			t.Errorf("line of %d columns: %q", n, line)
		}
	}
	for _, want := range []string{"mnist_bn_vs_plain_l…", "30/1000 analysing step 30 (layer 2 of 4)", "worker-two",
		"430/1000 epoch 3 loss 0.2500 lr 0.001", "mnist: epoch 0 train loss 0.3000",
		"after the bars\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the display never showed %q:\n%s", want, out)
		}
	}
	if strings.Contains(out[strings.LastIndex(out, "mnist: epoch 0"):], "analysing") {
		t.Errorf("the bar still names a layer after the analysis ended:\n%s", out)
	}
}
