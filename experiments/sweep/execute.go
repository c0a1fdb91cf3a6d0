package sweep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/flatyaml"
	"github.com/lwca/lwca/results"
	"github.com/lwca/lwca/rundir"
	"github.com/lwca/lwca/yamldoc"
)

// Files and folders of a sweep directory, beside its run directories. The manifest's name
// and content are rundir's: compare reads them.
const (
	ManifestFile = rundir.ManifestFile
	ConfigsDir   = "configs"
	SlurmFile    = "sweep.slurm"
	LogsDir      = "logs"       // the Slurm tasks' output, <run index>.out
	JobsFile     = "slurm.json" // the Slurm jobs submitted for the sweep
)

type (
	// Manifest is the content of manifest.json.
	Manifest = rundir.Manifest
	// ManifestAxis is one swept path and its values (as YAML).
	ManifestAxis = rundir.ManifestAxis
	// ManifestEntry is one run of the manifest.
	ManifestEntry = rundir.ManifestEntry
)

// Manifest describes the sweep's runs.
func (s *Sweep) Manifest() Manifest {
	m := Manifest{Name: s.Name, Source: s.File}
	for _, a := range s.Axes {
		m.Axes = append(m.Axes, ManifestAxis{Path: a.Path, Values: a.Values})
	}
	for _, r := range s.Runs {
		e := ManifestEntry{Index: r.Index, Name: r.Name, Dir: r.Name, Overrides: r.Overrides}
		if r.Err != nil {
			e.Error = r.Err.Error()
		} else {
			e.Config = filepath.ToSlash(filepath.Join(ConfigsDir, r.Name+".yaml"))
		}
		m.Runs = append(m.Runs, e)
	}
	return m
}

// Prepare writes manifest.json and each valid run's resolved config under dir.
func (s *Sweep) Prepare(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, ConfigsDir), 0o755); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	for _, r := range s.Runs {
		if r.Err != nil {
			continue
		}
		b, err := r.Config.Marshal()
		if err != nil {
			return fmt.Errorf("sweep: run %s: %w", r.Name, err)
		}
		if err := results.WriteFile(filepath.Join(dir, ConfigsDir, r.Name+".yaml"), b); err != nil {
			return err
		}
	}
	return results.WriteJSON(filepath.Join(dir, ManifestFile), s.Manifest())
}

// RunFunc trains one experiment into a run directory; experiments.Run is the default.
type RunFunc func(ctx context.Context, cfg config.Config, dir string, opts experiments.Options) (*experiments.Summary, error)

// Options configure Execute.
type Options struct {
	// Workers bounds the runs trained at once; ≤ 0 means 1.
	Workers int
	// Progress receives each run's progress and a line as each run starts and ends; nil is
	// silent. With several workers lines are written whole, never interleaved mid-line.
	Progress io.Writer
	// Overwrite retrains runs whose directory holds a finished run of a different config.
	Overwrite bool
	// Backend describes the numeric backend, for each run's summary.json.
	Backend map[string]any
	// Verbose is passed on to the runs (a line per analysed layer).
	Verbose bool
	// Run trains one run; nil means experiments.Run.
	Run RunFunc
}

// Result is the outcome of one run of a sweep.
type Result struct {
	Run     *Run
	Dir     string
	Status  string // a summary.json status, or NotStarted
	Skipped bool   // finished before, with the same config: not run again
	Summary *experiments.Summary
	Err     error
}

// NotStarted is the status of runs left undone when the sweep was interrupted.
const NotStarted = "not started"

// Failed reports whether the result counts as a failure of the sweep: failed, stopped or not
// started. A diverged run is a result, not a failure.
func (r Result) Failed() bool {
	return r.Status != experiments.StatusCompleted && r.Status != experiments.StatusDiverged
}

// Execute runs the sweep into dir: it writes the manifest and configs, then trains every run
// in dir/<run name> with at most Workers at once. A run whose directory already holds a
// completed or diverged run of the same config is skipped; one that fails or diverges does
// not stop the others. Results come in run order. If ctx is cancelled, running runs stop
// (status stopped) and the rest are not started. The error is for problems with the sweep
// directory itself; the runs' own errors are in the results.
func (s *Sweep) Execute(ctx context.Context, dir string, opts Options) ([]Result, error) {
	if err := s.Prepare(dir); err != nil {
		return nil, err
	}
	run := opts.Run
	if run == nil {
		run = experiments.Run
	}
	workers := max(opts.Workers, 1)
	// On a terminal, runs trained at once share one display, a bar per worker.
	var display *experiments.Display
	if workers > 1 {
		display = experiments.NewDisplay(opts.Progress)
	}
	out := newLines(opts.Progress)
	if display != nil {
		out = newLines(display)
		defer display.Wait()
	}
	res := make([]Result, len(s.Runs))
	var todo []int
	for i := range s.Runs {
		r := &s.Runs[i]
		res[i] = Result{Run: r, Status: NotStarted}
		var err error
		if res[i].Dir, err = experiments.ChildDir(dir, r.Name); err != nil {
			return nil, fmt.Errorf("sweep: run %d: %w", r.Index, err)
		}
		if r.Err != nil { // nothing is written for it: the manifest holds the problems
			res[i].Status, res[i].Err = experiments.StatusFailed, r.Err
			out.printf("[%d/%d] %s: invalid config:\n%s\n", i+1, len(s.Runs), r.Name, indent(r.Err.Error()))
			continue
		}
		done, err := finished(res[i].Dir, r)
		switch {
		case err != nil && !opts.Overwrite:
			res[i].Status, res[i].Err = experiments.StatusFailed, err
			out.printf("[%d/%d] %s: %v\n", i+1, len(s.Runs), r.Name, err)
		case done != nil && err == nil:
			res[i].Status, res[i].Skipped, res[i].Summary = done.Status, true, done
			out.printf("[%d/%d] %s: already %s, skipped\n", i+1, len(s.Runs), r.Name, done.Status)
		default:
			todo = append(todo, i)
		}
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r := &s.Runs[i]
				out.printf("[%d/%d] %s: starting\n", i+1, len(s.Runs), r.Name)
				ro := experiments.Options{Progress: opts.Progress, Display: display, Backend: opts.Backend, Verbose: opts.Verbose,
					SharedProcess: opts.Workers > 1}
				var lw *lineWriter
				switch {
				case display != nil: // the run's lines print above the bars
					ro.Progress = display
				case workers > 1 && opts.Progress != nil: // plain lines, whole
					lw = &lineWriter{l: out}
					ro.Progress = lw
				}
				sum, err := run(ctx, r.Config, res[i].Dir, ro)
				if lw != nil {
					lw.flush()
				}
				res[i].Summary, res[i].Err = sum, err
				switch {
				case sum != nil:
					res[i].Status = sum.Status
				case err != nil:
					res[i].Status = experiments.StatusFailed
				}
				out.printf("[%d/%d] %s: %s\n", i+1, len(s.Runs), r.Name, describe(res[i]))
			}
		}()
	}
	for _, i := range todo {
		if ctx.Err() != nil {
			break
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	return res, nil
}

// finished returns the summary of the finished (completed or diverged) run in dir, or nil.
// It is an error if that run's config is not the one r would train.
func finished(dir string, r *Run) (*experiments.Summary, error) {
	b, err := os.ReadFile(filepath.Join(dir, experiments.SummaryFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var sum experiments.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		return nil, nil // unreadable: train it again
	}
	if sum.Status != experiments.StatusCompleted && sum.Status != experiments.StatusDiverged {
		return nil, nil
	}
	want, err := r.Config.Marshal()
	if err != nil {
		return nil, err
	}
	have, err := os.ReadFile(filepath.Join(dir, experiments.ConfigFile))
	if err == nil && (bytes.Equal(have, want) || sameButName(have, want)) {
		return &sum, nil
	}
	what := "has no " + experiments.ConfigFile
	if err == nil {
		what = "was trained with another config"
		if d := firstDifference(have, want); d != "" {
			what += " (" + d + ")"
		}
	}
	return &sum, fmt.Errorf("%s holds a %s run that %s; remove it or overwrite it", dir, sum.Status, what)
}

// sameButName reports whether two configs differ at most in their name, which does not
// change what a run computes (runs of earlier sweeps were named <sweep>/<run>).
func sameButName(have, want []byte) bool {
	a, err1 := flatyaml.Flatten(have)
	b, err2 := flatyaml.Flatten(want)
	if err1 != nil || err2 != nil {
		return false
	}
	delete(a, "name")
	delete(b, "name")
	return maps.Equal(a, b)
}

func firstDifference(have, want []byte) string {
	a, err1 := flatyaml.Flatten(have)
	b, err2 := flatyaml.Flatten(want)
	if err1 != nil || err2 != nil {
		return ""
	}
	delete(a, "name") // not a difference on its own (sameButName)
	delete(b, "name")
	var keys []string
	for k := range b {
		if a[k] != b[k] {
			keys = append(keys, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	slices.Sort(keys)
	return fmt.Sprintf("%s: %q there, %q now", keys[0], a[keys[0]], b[keys[0]])
}

func describe(r Result) string {
	var b strings.Builder
	b.WriteString(r.Status)
	if s := r.Summary; s != nil {
		if s.DivergedAtStep != nil {
			fmt.Fprintf(&b, " at step %d", *s.DivergedAtStep)
		}
		if r.Status == experiments.StatusCompleted {
			fmt.Fprintf(&b, " after %d steps, test accuracy %.4f, %.1fs", s.Steps, float64(s.Final.TestAccuracy), s.WallSeconds)
		}
	}
	if r.Err != nil {
		msg := firstLine(r.Err.Error())
		b.WriteString(": " + msg)
	}
	return b.String()
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// WriteTable writes one line per result: index, run, status, steps, final test accuracy,
// seconds and a note (skipped, or the first line of an error).
func WriteTable(w io.Writer, res []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\trun\tstatus\tsteps\ttest acc\tseconds\tnote")
	for i, r := range res {
		steps, acc, secs := "", "", ""
		if s := r.Summary; s != nil && (r.Status == experiments.StatusCompleted || r.Status == experiments.StatusDiverged || r.Status == experiments.StatusStopped) {
			steps = fmt.Sprint(s.Steps)
			if a := float64(s.Final.TestAccuracy); a > 0 && !math.IsNaN(a) {
				acc = fmt.Sprintf("%.4f", a)
			}
			secs = fmt.Sprintf("%.1f", s.WallSeconds)
		}
		status := r.Status
		if s := r.Summary; s != nil && s.DivergedAtStep != nil {
			status += fmt.Sprintf(" at step %d", *s.DivergedAtStep)
		}
		note := ""
		switch {
		case r.Skipped:
			note = "finished before: skipped"
		case r.Err != nil:
			note = firstLine(r.Err.Error())
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", i, r.Run.Name, status, steps, acc, secs, note)
	}
	return tw.Flush()
}

// lines serialises writes to one destination.
type lines struct {
	mu  sync.Mutex
	dst io.Writer
}

func newLines(dst io.Writer) *lines { return &lines{dst: dst} }

func (l *lines) printf(format string, args ...any) {
	if l.dst == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.dst, format, args...)
}

// lineWriter buffers one run's progress and passes it on one whole line at a time.
type lineWriter struct {
	l   *lines
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	if i := bytes.LastIndexByte(w.buf, '\n'); i >= 0 {
		w.l.mu.Lock()
		_, err := w.l.dst.Write(w.buf[:i+1])
		w.l.mu.Unlock()
		w.buf = append(w.buf[:0], w.buf[i+1:]...)
		if err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 && w.l.dst != nil {
		w.l.mu.Lock()
		w.l.dst.Write(append(w.buf, '\n'))
		w.l.mu.Unlock()
		w.buf = nil
	}
}

func readFile(path string) ([]byte, error) {
	b, err := yamldoc.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	return b, nil
}
