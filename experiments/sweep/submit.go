package sweep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lwca/lwca/results"
)

// Slurm runs one of Slurm's commands (sbatch, squeue, sacct) and returns its standard
// output. SlurmCommand runs the installed ones; tests stand in for them.
type Slurm func(ctx context.Context, name string, args ...string) ([]byte, error)

// SlurmCommand runs the installed Slurm command name. Its errors carry the command's own
// message (its standard error).
func SlurmCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if errors.Is(err, exec.ErrNotFound) {
		return nil, fmt.Errorf("%s not found: submitting a sweep to Slurm needs Slurm's commands on this machine's PATH", name)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(string(out))
		}
		return out, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, msg)
	}
	return out, nil
}

// Jobs is the content of a sweep directory's slurm.json: every job array submitted for it.
type Jobs struct {
	Submissions []Submission `json:"submissions"`
}

// Submission is one job array: its job ID and its tasks, whose IDs are run indices.
type Submission struct {
	JobID     string    `json:"job_id"`
	Runs      []int     `json:"runs"`
	Submitted time.Time `json:"submitted"`
}

// Task returns the array task that last ran (or runs) run i: "<job ID>_<i>", or "" if no
// submission held it.
func (j *Jobs) Task(i int) string {
	for k := len(j.Submissions) - 1; k >= 0; k-- {
		if slices.Contains(j.Submissions[k].Runs, i) {
			return j.Submissions[k].JobID + "_" + strconv.Itoa(i)
		}
	}
	return ""
}

// jobIDs lists the submissions' job IDs, comma-separated, as squeue -j and sacct -j take them.
func (j *Jobs) jobIDs() string {
	var ids []string
	for _, s := range j.Submissions {
		ids = append(ids, s.JobID)
	}
	return strings.Join(ids, ",")
}

// ReadJobs reads dir's slurm.json; a sweep never submitted has none, and no jobs.
func ReadJobs(dir string) (*Jobs, error) {
	path := filepath.Join(dir, JobsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Jobs{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	var j Jobs
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("sweep: %s: %w", path, err)
	}
	for k, s := range j.Submissions {
		if s.JobID == "" {
			return nil, fmt.Errorf("sweep: %s: submissions[%d] has no job_id", path, k)
		}
	}
	return &j, nil
}

// SubmitOptions configure Submit.
type SubmitOptions struct {
	SlurmOptions
	// Slurm runs Slurm's commands; nil means SlurmCommand.
	Slurm Slurm
}

// Submit writes the sweep's job array into dir as WriteSlurm does and submits, with sbatch,
// the tasks of the runs that have neither finished (completed or diverged) nor a task still
// pending or running from an earlier submission. It records the submission in dir/slurm.json
// and returns it; nil if there was nothing to submit. A run directory that holds a finished
// run of another config is an error, and nothing is submitted.
func (s *Sweep) Submit(ctx context.Context, dir string, opts SubmitOptions) (*Submission, error) {
	slurm := opts.Slurm
	if slurm == nil {
		slurm = SlurmCommand
	}
	script, err := s.WriteSlurm(dir, opts.SlurmOptions)
	if err != nil {
		return nil, err
	}
	abs := filepath.Dir(script)
	jobs, err := ReadJobs(abs)
	if err != nil {
		return nil, err
	}
	queued := map[string]queueEntry{}
	if len(jobs.Submissions) > 0 {
		if queued, err = readQueue(ctx, slurm); err != nil {
			return nil, err
		}
	}
	var todo []int
	var conflicts []string
	for i := range s.Runs {
		r := &s.Runs[i]
		if _, ok := queued[jobs.Task(i)]; ok {
			continue // pending or running already
		}
		done, err := finished(filepath.Join(abs, r.Name), r)
		switch {
		case err != nil:
			conflicts = append(conflicts, err.Error())
		case done == nil:
			todo = append(todo, i)
		}
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("sweep: nothing submitted: %s", strings.Join(conflicts, "; "))
	}
	if len(todo) == 0 {
		return nil, nil
	}
	array := arraySpec(todo)
	if opts.Parallel > 0 {
		array += "%" + strconv.Itoa(opts.Parallel)
	}
	out, err := slurm(ctx, "sbatch", "--parsable", "--array="+array, script)
	if err != nil {
		return nil, err
	}
	// --parsable prints "<job ID>" or "<job ID>;<cluster>".
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return nil, fmt.Errorf("sweep: sbatch printed %q; expected a job ID", strings.TrimSpace(string(out)))
	}
	sub := Submission{JobID: id, Runs: todo, Submitted: time.Now().UTC().Truncate(time.Second)}
	jobs.Submissions = append(jobs.Submissions, sub)
	if err := results.WriteJSON(filepath.Join(abs, JobsFile), jobs); err != nil {
		return &sub, fmt.Errorf("sweep: job %s submitted, but not recorded: %w", id, err)
	}
	return &sub, nil
}

// arraySpec writes task IDs as sbatch --array takes them, runs of consecutive IDs as ranges:
// [0 1 2 5 7 8] → "0-2,5,7-8".
func arraySpec(ids []int) string {
	var parts []string
	for k := 0; k < len(ids); {
		j := k
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if j == k {
			parts = append(parts, strconv.Itoa(ids[k]))
		} else {
			parts = append(parts, strconv.Itoa(ids[k])+"-"+strconv.Itoa(ids[j]))
		}
		k = j + 1
	}
	return strings.Join(parts, ",")
}
