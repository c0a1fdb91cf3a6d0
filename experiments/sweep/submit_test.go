package sweep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/results"
)

// fakeSlurm stands in for sbatch, squeue and sacct: sbatch hands out job IDs from 17 on,
// squeue prints queue, sacct prints acct (or fails, as without accounting, when it is "").
type fakeSlurm struct {
	next   int
	queue  string
	acct   string
	sbatch [][]string // the arguments of every sbatch call
	calls  []string
}

func (f *fakeSlurm) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	f.calls = append(f.calls, name)
	switch name {
	case "sbatch":
		f.sbatch = append(f.sbatch, args)
		if f.next == 0 {
			f.next = 17
		}
		f.next++
		return []byte(strconv.Itoa(f.next-1) + "\n"), nil
	case "squeue":
		return []byte(f.queue), nil
	case "sacct":
		if f.acct == "" {
			return nil, errors.New("sacct: Slurm accounting storage is disabled")
		}
		return []byte(f.acct), nil
	}
	return nil, fmt.Errorf("%s: not a Slurm command", name)
}

// validTiny is the tiny sweep with valid values only: 8 runs.
func validTiny(t *testing.T) *Sweep {
	t.Helper()
	src := strings.Replace(tiny, "[0.05, 1.0e+30, -1]", "[0.05, 0.1]", 1)
	src = strings.Replace(src, "[[], [nope]]", "[[], [fc1]]", 1)
	s, err := Parse("tiny.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeRun makes dir/<run i> hold a run of run i's config that ended with status and err,
// and steps train records.
func writeRun(t *testing.T, s *Sweep, dir string, i int, status, err string, steps int) {
	t.Helper()
	rd := filepath.Join(dir, s.Runs[i].Name)
	os.MkdirAll(rd, 0o755)
	b, _ := s.Runs[i].Config.Marshal()
	results.WriteFile(filepath.Join(rd, experiments.ConfigFile), b)
	var m bytes.Buffer
	for k := range steps {
		fmt.Fprintf(&m, `{"type":"train","step":%d,"epoch":0,"lr":0.05,"loss":1,"accuracy":0.5}`+"\n", k)
	}
	m.WriteString(`{"type":"train","st`) // a line being written
	os.WriteFile(filepath.Join(rd, experiments.MetricsFile), m.Bytes(), 0o644)
	if status != "" {
		results.WriteJSON(filepath.Join(rd, experiments.SummaryFile), experiments.Summary{Status: status, Error: err, Steps: steps})
	}
}

// Submit sends the unfinished runs, records the job, and on a second call leaves alone what is
// finished or still queued; Status tells each task's state from squeue, sacct and the runs.
func TestSubmitAndStatus(t *testing.T) {
	s := validTiny(t)
	dir := t.TempDir()
	f := &fakeSlurm{}
	writeRun(t, s, dir, 7, experiments.StatusCompleted, "", 12) // finished before: not submitted
	sub, err := s.Submit(context.Background(), dir, SubmitOptions{SlurmOptions: SlurmOptions{Parallel: 3, Sbatch: []string{"--time=1:00"}}, Slurm: f.run})
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, SlurmFile)
	if want := [][]string{{"--parsable", "--array=0-6%3", script}}; sub == nil || sub.JobID != "17" || !slices.Equal(sub.Runs, []int{0, 1, 2, 3, 4, 5, 6}) ||
		len(f.sbatch) != 1 || !slices.Equal(f.sbatch[0], want[0]) {
		t.Fatalf("submission %+v, sbatch %q", sub, f.sbatch)
	}
	if b, _ := os.ReadFile(script); !bytes.Contains(b, []byte("\n#SBATCH --time=1:00\n")) {
		t.Errorf("the script lacks the sbatch option:\n%s", b)
	}
	if slices.Contains(f.calls, "squeue") {
		t.Error("the first submission asked squeue, with no job to look for")
	}
	jobs, err := ReadJobs(dir)
	if err != nil || len(jobs.Submissions) != 1 || jobs.Task(3) != "17_3" || jobs.Task(7) != "" {
		t.Fatalf("slurm.json: %+v, %v", jobs, err)
	}

	// Task 0 runs, 1 waits, 2-6 have ended in every way there is.
	f.queue = "17|0|RUNNING|None\n17|1|PENDING|Priority\n99|0|RUNNING|None\n17|2-6%3|PENDING|JobArrayTaskLimit\n"
	writeRun(t, s, dir, 0, experiments.StatusRunning, "", 5)
	writeRun(t, s, dir, 2, experiments.StatusCompleted, "", 12)
	writeRun(t, s, dir, 3, experiments.StatusDiverged, "", 4)
	writeRun(t, s, dir, 4, experiments.StatusStopped, "", 6)
	writeRun(t, s, dir, 5, experiments.StatusRunning, "", 8) // killed: summary.json never updated
	// Run 6's task ended before the run began: no run directory.
	f.acct = "17_[1-6%3]|PENDING|0:0\n17_4|CANCELLED by 0|0:15\n17_5|RUNNING|0:0\n17_5|OUT_OF_MEMORY|0:125\n"
	ts, err := Status(context.Background(), dir, f.run)
	if err != nil {
		t.Fatal(err)
	}
	log := func(i int) string { return filepath.Join(dir, LogsDir, strconv.Itoa(i)+".out") }
	want := []struct {
		status, task, reason string
		step                 int
		note                 string
	}{
		{StateRunning, "17_0", "", 5, ""},
		{StatePending, "17_1", "Priority", 0, ""},
		{experiments.StatusCompleted, "17_2", "", 0, ""},
		{experiments.StatusDiverged, "17_3", "", 0, ""},
		{experiments.StatusStopped, "17_4", "CANCELLED by 0, exit code 0:15", 0, "task 17_4 CANCELLED by 0, exit code 0:15; log " + log(4)},
		{experiments.StatusFailed, "17_5", "OUT_OF_MEMORY, exit code 0:125", 0, "task 17_5 OUT_OF_MEMORY, exit code 0:125; log " + log(5)},
		{experiments.StatusFailed, "17_6", "", 0, "task 17_6: the task ended without a run"},
		{experiments.StatusCompleted, "", "", 0, ""},
	}
	for i, w := range want {
		g := ts[i]
		note := ""
		if g.Err != nil {
			note = g.Err.Error()
		}
		if g.Status != w.status || g.Task != w.task || g.Reason != w.reason || g.Step != w.step || !strings.HasPrefix(note, w.note) || (w.note == "") != (note == "") {
			t.Errorf("run %d: %s %s %q step %d note %q; want %+v", i, g.Status, g.Task, g.Reason, g.Step, note, w)
		}
		if g.Log != log(i) || g.Run.Name != s.Runs[i].Name || g.Dir != filepath.Join(dir, s.Runs[i].Name) {
			t.Errorf("run %d: log %s, run %s, dir %s", i, g.Log, g.Run.Name, g.Dir)
		}
	}
	if got := ts[6].Err.Error(); !strings.HasSuffix(got, "; log "+log(6)) {
		t.Errorf("a failed task's note must end with its log: %s", got)
	}
	if d := ts[0].Describe() + " | " + ts[1].Describe(); d != "running, step 5 | pending (Priority)" {
		t.Errorf("Describe: %s", d)
	}
	var table bytes.Buffer
	WriteTable(&table, Results(ts))
	for _, i := range []int{4, 5, 6} {
		if !strings.Contains(table.String(), log(i)) {
			t.Errorf("the table's row of failed run %d lacks its log:\n%s", i, table.String())
		}
	}

	// Again: 0 and 1 are queued, 2, 3 and 7 finished; 4, 5 and 6 go in a new array.
	sub, err = s.Submit(context.Background(), dir, SubmitOptions{SlurmOptions: SlurmOptions{Parallel: 3}, Slurm: f.run})
	if err != nil {
		t.Fatal(err)
	}
	if sub == nil || sub.JobID != "18" || !slices.Equal(sub.Runs, []int{4, 5, 6}) || f.sbatch[1][1] != "--array=4-6%3" {
		t.Fatalf("resubmission %+v, sbatch %q", sub, f.sbatch)
	}
	jobs, _ = ReadJobs(dir)
	if jobs.Task(4) != "18_4" || jobs.Task(0) != "17_0" {
		t.Errorf("tasks after resubmission: %s %s", jobs.Task(4), jobs.Task(0))
	}
	// All queued or finished: nothing to submit.
	f.queue = "17|0|RUNNING|None\n17|1|RUNNING|None\n18|4|PENDING|None\n18|5|PENDING|None\n18|6|PENDING|None\n"
	if sub, err := s.Submit(context.Background(), dir, SubmitOptions{Slurm: f.run}); sub != nil || err != nil || len(f.sbatch) != 2 {
		t.Errorf("nothing to submit: %+v, %v, %d sbatch calls", sub, err, len(f.sbatch))
	}

	// A finished run of another config stops the submission.
	other := validTiny(t)
	other.Runs[2].Config.Optim.LR = 0.3
	f.queue = ""
	if _, err := other.Submit(context.Background(), dir, SubmitOptions{Slurm: f.run}); err == nil || !strings.Contains(err.Error(), "optim.lr") || len(f.sbatch) != 2 {
		t.Errorf("another config: %v, %d sbatch calls", err, len(f.sbatch))
	}
}

func TestSubmitErrors(t *testing.T) {
	s := validTiny(t)
	garbled := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		return []byte("Submitted batch job 12\n"), nil
	}
	if _, err := s.Submit(context.Background(), t.TempDir(), SubmitOptions{Slurm: garbled}); err == nil || !strings.Contains(err.Error(), "expected a job ID") {
		t.Errorf("sbatch without --parsable's output: %v", err)
	}
	if _, err := s.Submit(context.Background(), t.TempDir(), SubmitOptions{SlurmOptions: SlurmOptions{Sbatch: []string{"--comment=a b"}}}); err == nil || !strings.Contains(err.Error(), `"--comment=a b"`) {
		t.Errorf("an sbatch option with a space: %v", err)
	}
	dir := t.TempDir()
	if _, err := Status(context.Background(), dir, (&fakeSlurm{}).run); err == nil || !strings.Contains(err.Error(), "manifest.json") {
		t.Errorf("status of no sweep: %v", err)
	}
	s.Prepare(dir)
	if _, err := Status(context.Background(), dir, (&fakeSlurm{}).run); err == nil || !strings.Contains(err.Error(), "never submitted") {
		t.Errorf("status of a sweep never submitted: %v", err)
	}
	os.WriteFile(filepath.Join(dir, JobsFile), []byte(`{"submissions": [{"runs": [0]}]}`), 0o644)
	if _, err := ReadJobs(dir); err == nil || !strings.Contains(err.Error(), "submissions[0] has no job_id") {
		t.Errorf("a damaged slurm.json: %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := SlurmCommand(context.Background(), "sbatch", "x"); err == nil || !strings.Contains(err.Error(), "sbatch not found") {
		t.Errorf("no sbatch: %v", err)
	}
}

// Follow reports each change of state and returns when no task is queued.
func TestFollow(t *testing.T) {
	s := validTiny(t)
	s.Runs = s.Runs[:2]
	dir := t.TempDir()
	f := &fakeSlurm{}
	if _, err := s.Submit(context.Background(), dir, SubmitOptions{Slurm: f.run}); err != nil {
		t.Fatal(err)
	}
	// Both pending, then 0 running, then 0 done and 1 running, then both done.
	polls := 0
	follow := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		if name == "squeue" {
			polls++
			switch polls {
			case 1:
				f.queue = "17|0|PENDING|Priority\n17|1|PENDING|Priority\n"
			case 2:
				f.queue = "17|0|RUNNING|None\n17|1|PENDING|Priority\n"
				writeRun(t, s, dir, 0, experiments.StatusRunning, "", 3)
			case 3:
				f.queue = "17|1|RUNNING|None\n"
				writeRun(t, s, dir, 0, experiments.StatusCompleted, "", 12)
			default:
				f.queue = ""
				writeRun(t, s, dir, 1, experiments.StatusDiverged, "", 4)
			}
		}
		return f.run(ctx, name, args...)
	}
	var out bytes.Buffer
	ts, err := Follow(context.Background(), dir, FollowOptions{Slurm: follow, Every: time.Millisecond, Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	if ts[0].Status != experiments.StatusCompleted || ts[1].Status != experiments.StatusDiverged || polls != 4 {
		t.Errorf("statuses %s %s after %d polls", ts[0].Status, ts[1].Status, polls)
	}
	want := fmt.Sprintf(`[1/2] %[1]s: pending (Priority) [task 17_0]
[2/2] %[2]s: pending (Priority) [task 17_1]
[1/2] %[1]s: running, step 3 [task 17_0]
[1/2] %[1]s: completed after 12 steps, test accuracy 0.0000, 0.0s [task 17_0]
[2/2] %[2]s: running, step 0 [task 17_1]
[2/2] %[2]s: diverged [task 17_1]
`, s.Runs[0].Name, s.Runs[1].Name)
	if out.String() != want {
		t.Errorf("progress:\n%s\nwant\n%s", out.String(), want)
	}
	// Cancelled: the statuses so far, and the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.queue = "17|0|RUNNING|None\n"
	if _, err := Follow(ctx, dir, FollowOptions{Slurm: f.run, Every: time.Hour}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// arraySpec's ranges expand back to the IDs, for random sets.
func TestArraySpec(t *testing.T) {
	if got := arraySpec([]int{0, 1, 2, 5, 7, 8}); got != "0-2,5,7-8" {
		t.Errorf("arraySpec: %s", got)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		var ids []int
		for i := range 30 {
			if rng.IntN(3) > 0 {
				ids = append(ids, i)
			}
		}
		if len(ids) == 0 {
			continue
		}
		var back []int
		for _, part := range strings.Split(arraySpec(ids), ",") {
			lo, hi, isRange := strings.Cut(part, "-")
			a, _ := strconv.Atoi(lo)
			b := a
			if isRange {
				b, _ = strconv.Atoi(hi)
				if b <= a {
					t.Fatalf("%v: range %s", ids, part)
				}
			}
			for k := a; k <= b; k++ {
				back = append(back, k)
			}
		}
		if !slices.Equal(back, ids) {
			t.Fatalf("%v → %s → %v", ids, arraySpec(ids), back)
		}
	}
}
