package experiments

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Display draws the progress bars of runs on a terminal: one bar for a single run, one per
// worker for a sweep's runs trained at once. Bars are redrawn in place and fit the terminal's
// width; lines written to the Display print above them.
type Display struct {
	p *mpb.Progress
}

// NewDisplay returns a Display on w if w is a terminal, nil otherwise: off a terminal (logs,
// CI, pipes) runs print plain lines.
func NewDisplay(w io.Writer) *Display {
	if !isTerminal(w) {
		return nil
	}
	return newDisplay(mpb.WithOutput(w))
}

func newDisplay(opts ...mpb.ContainerOption) *Display {
	return &Display{p: mpb.New(opts...)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Write prints b above the bars, at their next redraw.
func (d *Display) Write(b []byte) (int, error) { return d.p.Write(b) }

// Wait waits for the bars to end and leaves the terminal to plain writes again.
func (d *Display) Wait() {
	// Lines written since the last redraw appear at the next one, and there is none once the
	// bars have ended: a last, empty bar that ends at once makes one.
	last := d.p.New(0, mpb.NopStyle(), mpb.BarRemoveOnComplete())
	last.SetTotal(-1, true)
	d.p.Wait()
}

// progress reports a run's advance: a bar on a terminal, plain periodic lines otherwise.
// Its methods may be called from the training loop and from the analysis worker at once.
type progress struct {
	w       io.Writer // plain lines; nil: silent
	display *Display  // the terminal's bars, nil off a terminal
	own     bool      // display was made for this run alone and ends with it
	bar     *mpb.Bar
	verbose bool
	every   int
	total   int
	start   time.Time
	name    string
	// from is the number of steps done before this process began (a resumed run): the
	// remaining time is estimated from the steps done since.
	from int

	wmu    sync.Mutex // one line at a time: the analysis worker prints too
	mu     sync.Mutex // the state below, read by the bar's redraws
	status string     // the bar's text after the count: epoch, loss, learning rate
	done   int
	// analysing says which layer of which step the analysis is at, "" when it is not running;
	// a long analysis would otherwise leave the bar frozen without a word.
	analysing string
}

// barName is the longest run name a bar shows, so that the bar keeps room on the line.
const barName = 20

// newProgress reports on a run of total steps of which from were done by earlier processes.
// With opts.Display the run's bar joins that display; otherwise a terminal gets its own.
func newProgress(opts Options, name string, total, from, every int) *progress {
	p := &progress{w: opts.Progress, verbose: opts.Verbose, every: every, total: total, from: from,
		start: time.Now(), name: name, done: from}
	if p.w == nil {
		return p
	}
	p.display = opts.Display
	if p.display == nil {
		if p.display = NewDisplay(p.w); p.display != nil {
			p.own = true
		}
	}
	if p.display != nil {
		p.addBar()
	}
	return p
}

func (p *progress) addBar() {
	label := []rune(p.name)
	if len(label) > barName {
		label = append(label[:barName-1], '…')
	}
	p.bar = p.display.p.AddBar(int64(max(p.total, 1)),
		mpb.BarWidth(30),
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(string(label))),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return p.text() })))
	p.bar.SetCurrent(int64(p.from))
	p.w = p.display // messages print above the bars
}

// text is what the bar shows after it: the count, what the run is doing, the time left.
func (p *progress) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := fmt.Sprintf("%d/%d ", p.done, p.total)
	if p.analysing != "" {
		s += p.analysing
	} else {
		s += p.status
	}
	if p.done > p.from {
		rest := time.Duration(float64(time.Since(p.start)) / float64(p.done-p.from) * float64(p.total-p.done))
		s += " eta " + rest.Round(time.Second).String()
	}
	return s
}

func (p *progress) step(step, epoch int, loss, lr float64) {
	if p.w == nil {
		return
	}
	done := step + 1
	if p.bar != nil {
		p.mu.Lock()
		p.done, p.status = done, fmt.Sprintf("epoch %d loss %.4f lr %.3g", epoch, loss, lr)
		p.mu.Unlock()
		p.bar.SetCurrent(int64(done))
		return
	}
	if p.every > 0 && (step%p.every == 0 || done == p.total) {
		p.message("%s step %d/%d epoch %d loss %.4f lr %.3g %s", p.name, done, p.total, epoch, loss, lr, p.eta(done))
	}
}

// layer hears of the analysis of step: done of its n layers are finished, the last of them
// layer, which took took. The bar names the layer under way; --verbose prints each time.
func (p *progress) layer(step, done, n int, layer string, took time.Duration) {
	if p == nil || p.w == nil {
		return
	}
	if p.bar != nil {
		p.mu.Lock()
		p.analysing = ""
		if done < n {
			p.analysing = fmt.Sprintf("analysing step %d (layer %d of %d)", step, done+1, n)
		}
		p.mu.Unlock()
	}
	if p.verbose && done > 0 {
		p.message("%s: step %d: analysed %s (layer %d of %d) in %s", p.name, step, layer, done, n, took.Round(time.Millisecond))
	}
}

func (p *progress) eta(done int) string {
	return p.etaAt(done, time.Since(p.start))
}

// etaAt is the progress text after done steps, el after the process began.
func (p *progress) etaAt(done int, el time.Duration) string {
	if done <= p.from {
		return ""
	}
	rest := time.Duration(float64(el) / float64(done-p.from) * float64(p.total-done))
	return fmt.Sprintf("elapsed %s eta %s", el.Round(time.Second), rest.Round(time.Second))
}

// message prints a line; on a terminal it goes above the bar.
func (p *progress) message(format string, args ...any) {
	if p.w == nil {
		return
	}
	line := fmt.Sprintf(format+"\n", args...)
	p.wmu.Lock()
	defer p.wmu.Unlock()
	io.WriteString(p.w, line)
}

// close ends the run's bar: a finished bar goes, an unfinished one stays on a display of its
// own and goes from a shared one, where the worker's next run takes its place.
func (p *progress) close() {
	if p == nil || p.bar == nil {
		return
	}
	p.bar.Abort(!p.own) // a no-op for a completed bar
	if p.own {
		p.display.Wait()
	}
	p.bar = nil
}
