package sweep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/rundir"
)

// States of a Slurm task that has not ended; an ended task's state is its run's status.
const (
	StatePending = "pending"
	StateRunning = "running"
)

// TaskStatus is where one run of a sweep submitted to Slurm stands.
type TaskStatus struct {
	// Result is the run's outcome as a local sweep reports it; its Status is StatePending or
	// StateRunning while the task is in Slurm's queue. The Err of a run that failed names
	// its log.
	Result
	Task   string // the array task, "<job ID>_<run index>"; "" if none was submitted
	Reason string // why a pending task waits, or how Slurm ended a failed one (sacct)
	Step   int    // the steps a running task's run has done
	Log    string // the task's output
}

// Queued reports whether the task is pending or running.
func (t TaskStatus) Queued() bool { return t.Status == StatePending || t.Status == StateRunning }

// queueEntry is one array task in squeue's listing.
type queueEntry struct{ state, reason string }

// readQueue lists the user's array tasks that Slurm has not finished with, by
// "<job ID>_<task ID>".
func readQueue(ctx context.Context, slurm Slurm) (map[string]queueEntry, error) {
	out, err := slurm(ctx, "squeue", "--noheader", "--array", "--me", "--format=%F|%K|%T|%r")
	if err != nil {
		return nil, err
	}
	return parseQueue(out), nil
}

// parseQueue reads squeue's "%F|%K|%T|%r" lines (array job ID, task ID, state, reason).
// Jobs that are not array tasks (task ID N/A) are left out.
func parseQueue(out []byte) map[string]queueEntry {
	q := map[string]queueEntry{}
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 4 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		q[f[0]+"_"+f[1]] = queueEntry{state: f[2], reason: f[3]}
	}
	return q
}

// readAccounting returns how Slurm ended the jobs' tasks ("TIMEOUT", "CANCELLED by 0", with
// the exit code), by task; nil where Slurm keeps no accounting (sacct fails).
func readAccounting(ctx context.Context, slurm Slurm, jobIDs string) map[string]string {
	out, err := slurm(ctx, "sacct", "--noheader", "--parsable2", "--allocations", "--jobs="+jobIDs, "--format=JobID,State,ExitCode")
	if err != nil {
		return nil
	}
	return parseAccounting(out)
}

// parseAccounting reads sacct's "JobID|State|ExitCode" lines; a task listed twice (it was
// requeued) keeps its last line.
func parseAccounting(out []byte) map[string]string {
	a := map[string]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 3 || !strings.Contains(f[0], "_") || strings.Contains(f[0], "[") {
			continue
		}
		s := f[1]
		if f[2] != "" && f[2] != "0:0" {
			s += ", exit code " + f[2]
		}
		a[f[0]] = s
	}
	return a
}

// running tells a queued task that has started from one that waits.
func running(state string) bool {
	switch state {
	case "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT":
		return true
	}
	return false
}

// Status reports every run of the sweep in dir as its Slurm task stands: pending or running
// (squeue), or ended, with the run's own outcome (summary.json) and, for a failed task, how
// Slurm ended it (sacct, where Slurm keeps accounting) and its log. It reads the manifest and
// slurm.json that Submit wrote.
func Status(ctx context.Context, dir string, slurm Slurm) ([]TaskStatus, error) {
	if slurm == nil {
		slurm = SlurmCommand
	}
	m, err := rundir.ReadManifest(dir)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	jobs, err := ReadJobs(dir)
	if err != nil {
		return nil, err
	}
	if len(jobs.Submissions) == 0 {
		return nil, fmt.Errorf("sweep: %s holds no %s: its runs were never submitted to Slurm (lwca sweep CONFIG --executor slurm)", dir, JobsFile)
	}
	queue, err := readQueue(ctx, slurm)
	if err != nil {
		return nil, err
	}
	var acct map[string]string // read once, when a task has failed
	out := make([]TaskStatus, len(m.Runs))
	for k, e := range m.Runs {
		t := &out[k]
		t.Run = &Run{Index: e.Index, Name: e.Name, Overrides: e.Overrides}
		t.Task = jobs.Task(e.Index)
		t.Log = filepath.Join(dir, LogsDir, strconv.Itoa(e.Index)+".out")
		if t.Dir, err = experiments.ChildDir(dir, e.Dir); err != nil {
			return nil, fmt.Errorf("sweep: %s: run %d: %w", filepath.Join(dir, ManifestFile), e.Index, err)
		}
		if e.Error != "" {
			t.Status, t.Err = experiments.StatusFailed, errors.New(e.Error)
			continue
		}
		if q, ok := queue[t.Task]; ok {
			t.Status, t.Reason = StatePending, q.reason
			if running(q.state) {
				t.Status, t.Reason = StateRunning, ""
				if q.state != "RUNNING" {
					t.Reason = q.state
				}
				t.Step = stepsDone(t.Dir)
			}
			continue
		}
		sum, err := rundir.ReadSummary(t.Dir)
		switch {
		case err != nil && t.Task == "":
			t.Status = NotStarted
			continue
		case err != nil:
			t.Status, t.Err = experiments.StatusFailed, fmt.Errorf("the task ended without a run (%v)", err)
		default:
			t.Summary, t.Status = sum, sum.Status
			if sum.Status == experiments.StatusRunning { // the process was killed
				t.Status = experiments.StatusFailed
			}
			if sum.Error != "" {
				t.Err = errors.New(sum.Error)
			}
		}
		if !t.Failed() || t.Task == "" {
			continue
		}
		if acct == nil {
			if acct = readAccounting(ctx, slurm, jobs.jobIDs()); acct == nil {
				acct = map[string]string{}
			}
		}
		t.Reason = acct[t.Task]
		msg := "task " + t.Task
		if t.Reason != "" {
			msg += " " + t.Reason
		}
		if t.Err != nil {
			msg += ": " + firstLine(t.Err.Error())
		}
		t.Err = fmt.Errorf("%s; log %s", msg, t.Log)
	}
	return out, nil
}

// Results are the statuses as a local sweep's results, for WriteTable.
func Results(ts []TaskStatus) []Result {
	out := make([]Result, len(ts))
	for i, t := range ts {
		out[i] = t.Result
	}
	return out
}

// stepsDone counts the steps of the run in dir from the last record of its metrics.jsonl: 0
// before its first step.
func stepsDone(dir string) int {
	f, err := os.Open(filepath.Join(dir, experiments.MetricsFile))
	if err != nil {
		return 0
	}
	defer f.Close()
	const tail = 4096 // holds the last few records
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	from := max(fi.Size()-tail, 0)
	b := make([]byte, fi.Size()-from)
	if _, err := f.ReadAt(b, from); err != nil && !errors.Is(err, io.EOF) {
		return 0
	}
	lines := bytes.Split(b, []byte("\n"))
	for i := len(lines) - 2; i >= 0; i-- { // the last element follows the last newline
		var rec struct {
			Step *int `json:"step"`
		}
		if json.Unmarshal(lines[i], &rec) == nil && rec.Step != nil {
			return *rec.Step + 1
		}
	}
	return 0
}

// Describe is a task's state in a few words: "pending (Priority)", "running, step 40",
// "completed", "failed: task 12_3 TIMEOUT; log …".
func (t TaskStatus) Describe() string {
	switch t.Status {
	case StatePending:
		if t.Reason != "" && t.Reason != "None" {
			return fmt.Sprintf("pending (%s)", t.Reason)
		}
		return StatePending
	case StateRunning:
		s := fmt.Sprintf("running, step %d", t.Step)
		if t.Reason != "" {
			s += " (" + t.Reason + ")"
		}
		return s
	}
	return describe(t.Result)
}

// Line is the task's line in a listing of n: "[2/6] lr=0.1,seed=1: running, step 40 [task 12_1]".
func (t TaskStatus) Line(n int) string {
	s := fmt.Sprintf("[%d/%d] %s: %s", t.Run.Index+1, n, t.Run.Name, t.Describe())
	if t.Task != "" {
		s += " [task " + t.Task + "]"
	}
	return s
}

// FollowOptions configure Follow.
type FollowOptions struct {
	// Slurm runs Slurm's commands; nil means SlurmCommand.
	Slurm Slurm
	// Every is the time between looks at the queue; ≤ 0 means 5 seconds.
	Every time.Duration
	// Progress receives a line whenever a task's state changes, and a running task's step
	// now and then; nil is silent.
	Progress io.Writer
}

// Follow watches the Slurm tasks of the sweep in dir until none is pending or running, and
// returns their final statuses. If ctx ends first it returns the statuses so far and the
// context's error; the tasks go on.
func Follow(ctx context.Context, dir string, opts FollowOptions) ([]TaskStatus, error) {
	every := opts.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	out := newLines(opts.Progress)
	type shown struct {
		what string
		step int
		at   time.Time
	}
	last := map[int]shown{}
	for {
		ts, err := Status(ctx, dir, opts.Slurm)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		queued := false
		for i, t := range ts {
			queued = queued || t.Queued()
			what := t.Status + "|" + t.Reason
			prev, seen := last[i]
			// A running task's step is worth a line every half minute, or so.
			stepNews := t.Status == StateRunning && t.Step != prev.step && time.Since(prev.at) >= max(30*time.Second, 6*every)
			if seen && prev.what == what && !stepNews {
				continue
			}
			if !seen && !t.Queued() && t.Task == "" {
				last[i] = shown{what: what}
				continue // finished before any submission: nothing to follow
			}
			last[i] = shown{what: what, step: t.Step, at: time.Now()}
			out.printf("%s\n", t.Line(len(ts)))
		}
		if !queued {
			return ts, nil
		}
		select {
		case <-ctx.Done():
			return ts, ctx.Err()
		case <-time.After(every):
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
