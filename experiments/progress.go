package experiments

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progress reports a run's advance: a redrawn bar on a terminal, plain periodic lines otherwise
// (logs, CI, pipes).
type progress struct {
	w        io.Writer
	terminal bool
	every    int
	total    int
	start    time.Time
	last     time.Time
	name     string
	// from is the number of steps done before this process began (a resumed run): the
	// remaining time is estimated from the steps done since.
	from int
}

// newProgress reports on a run of total steps of which from were done by earlier processes.
func newProgress(w io.Writer, name string, total, from, every int) *progress {
	p := &progress{w: w, every: every, total: total, from: from, start: time.Now(), name: name}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) step(step, epoch int, loss, lr float64) {
	if p.w == nil {
		return
	}
	done := step + 1
	if p.terminal {
		if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || done == p.total {
			p.last = now
			const width = 30
			fill := width * done / max(p.total, 1)
			fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d epoch %d loss %.4f lr %.3g %s ", p.name,
				strings.Repeat("=", fill), strings.Repeat(" ", width-fill), done, p.total, epoch, loss, lr, p.eta(done))
		}
		return
	}
	if p.every > 0 && (step%p.every == 0 || done == p.total) {
		fmt.Fprintf(p.w, "%s step %d/%d epoch %d loss %.4f lr %.3g %s\n", p.name, done, p.total, epoch, loss, lr, p.eta(done))
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

// message prints a line, ending a bar in progress first.
func (p *progress) message(format string, args ...any) {
	if p.w == nil {
		return
	}
	if p.terminal {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}
