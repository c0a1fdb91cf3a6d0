package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/experiments/sweep"
)

// sweepCmd is lwca sweep CONFIG (its default command, run) and lwca sweep status DIR.
type sweepCmd struct {
	Run    sweepRunCmd    `cmd:"" default:"withargs" help:"Train many runs from one config, here or on Slurm."`
	Status sweepStatusCmd `cmd:"" help:"Where the Slurm tasks of a submitted sweep stand."`
}

func (c *sweepCmd) Help() string {
	return `lwca sweep CONFIG … is short for lwca sweep run CONFIG …: see lwca sweep run --help.`
}

type sweepRunCmd struct {
	Config      string   `arg:"" name:"config" help:"A config with a sweep: section."`
	Out         string   `short:"o" placeholder:"DIR" help:"Sweep directory (default: runs/<name>)."`
	Workers     *int     `short:"w" placeholder:"N" help:"Runs trained at once (default 1); with Slurm, the array's %N (default: no limit)."`
	Set         []string `short:"s" sep:"none" placeholder:"PATH=VALUE" help:"Override a config field in every run; repeatable."`
	Overwrite   bool     `help:"Retrain runs whose directory holds a finished run of another config."`
	DryRun      bool     `short:"n" help:"List the runs and their overrides; train nothing."`
	Emit        string   `placeholder:"slurm" help:"Write a Slurm job array instead of training."`
	Executor    string   `placeholder:"local|slurm" default:"local" enum:"local,slurm" help:"Train here, or submit a Slurm job array with sbatch and follow it."`
	Partition   string   `placeholder:"NAME" help:"With Slurm: the partition."`
	Time        string   `placeholder:"LIMIT" help:"With Slurm: each task's time limit, such as 2:00:00."`
	Mem         string   `placeholder:"SIZE" help:"With Slurm: each task's memory, such as 4G."`
	CpusPerTask *int     `placeholder:"N" help:"With Slurm: CPUs per task."`
	SbatchArg   []string `sep:"none" placeholder:"OPTION" help:"With Slurm: a further sbatch option, such as --account=lab; repeatable."`
	Wait        bool     `default:"true" help:"With Slurm: follow the tasks until they end (--wait=false: submit and return the job ID)."`
}

func (c *sweepRunCmd) Help() string {
	return `Every combination of the values under sweep: is one run; the same command again skips
finished runs and retrains the rest. Ctrl-C stops the running runs after their current step.
--executor slurm submits the runs as a Slurm job array (sbatch) instead, shows each task's
state until all have ended, then the same table; run again, it submits only the runs that
have neither completed nor diverged. A task that Slurm stops (scancel, a time limit, a
requeue) continues from its checkpoint when it runs again.`
}

// sbatchOptions are the Slurm flags as sbatch options; a usage error if one is given without
// --executor slurm or --emit slurm.
func (c *sweepRunCmd) sbatchOptions() ([]string, error) {
	var opts, given []string
	add := func(flag, value string) {
		if value != "" {
			opts = append(opts, "--"+flag+"="+value)
			given = append(given, "--"+flag)
		}
	}
	add("partition", c.Partition)
	add("time", c.Time)
	add("mem", c.Mem)
	if c.CpusPerTask != nil {
		if *c.CpusPerTask < 1 {
			return nil, usageError{msg: fmt.Sprintf("--cpus-per-task %d: expected a whole number ≥ 1", *c.CpusPerTask)}
		}
		add("cpus-per-task", fmt.Sprint(*c.CpusPerTask))
	}
	for _, a := range c.SbatchArg {
		if sweep.CheckSbatchOption(a) != nil {
			return nil, usageError{msg: fmt.Sprintf("--sbatch-arg %q: expected one sbatch option without spaces, such as --sbatch-arg=--account=lab", a)}
		}
		opts = append(opts, a)
		given = append(given, "--sbatch-arg")
	}
	if !c.Wait {
		given = append(given, "--wait=false")
	}
	if c.Executor != "slurm" && c.Emit == "" && len(given) > 0 {
		return nil, usageError{msg: given[0] + " goes with --executor slurm (or --emit slurm)"}
	}
	return opts, nil
}

func (c *sweepRunCmd) Run(g *globals) error {
	stdout := g.stdout
	workers := 0
	if c.Workers != nil {
		if workers = *c.Workers; workers < 1 {
			return usageError{msg: fmt.Sprintf("--workers %d: expected a whole number ≥ 1", workers)}
		}
	}
	if c.Emit != "" && c.Emit != "slurm" {
		return usageError{msg: fmt.Sprintf("--emit %q: the only emitter is slurm", c.Emit)}
	}
	if c.Emit != "" && c.Executor == "slurm" {
		return usageError{msg: "--emit slurm writes the job array, --executor slurm submits it: give one"}
	}
	if c.Executor == "slurm" && c.Overwrite {
		return usageError{msg: "--overwrite is for local sweeps; to retrain a finished run on Slurm, remove its directory first"}
	}
	sbatch, err := c.sbatchOptions()
	if err != nil {
		return err
	}
	sw, err := sweep.Load(c.Config, c.Set)
	if err != nil {
		return err
	}
	out := c.Out
	if out == "" {
		if out, err = experiments.ChildDir("runs", sw.Name); err != nil {
			return err
		}
	}
	invalid := 0
	for _, r := range sw.Runs {
		if r.Err != nil {
			invalid++
		}
	}
	if c.DryRun {
		for _, r := range sw.Runs {
			fmt.Fprintf(stdout, "%d\t%s\t%s\n", r.Index, filepath.Join(out, r.Name), strings.Join(r.Overrides, " "))
			if r.Err != nil {
				fmt.Fprintf(stdout, "\tinvalid config:\n\t%s\n", strings.ReplaceAll(r.Err.Error(), "\n", "\n\t"))
			}
		}
		if invalid > 0 {
			return fmt.Errorf("%d of %d runs have invalid configs", invalid, len(sw.Runs))
		}
		return nil
	}
	slurm := sweep.SlurmOptions{Parallel: workers, Sbatch: sbatch}
	if c.Emit == "slurm" || c.Executor == "slurm" {
		if slurm.RunFlags, err = g.runFlags(); err != nil {
			return err
		}
	}
	if c.Emit == "slurm" {
		path, err := sw.WriteSlurm(out, slurm)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d runs: submit with\n  sbatch %s\nthen compare with\n  lwca compare %s\n", len(sw.Runs), path, out)
		return nil
	}
	if c.Executor == "slurm" {
		return c.submit(g, sw, out, slurm)
	}
	info, err := g.setupBackend()
	if err != nil {
		return err
	}
	if info, err = g.sweepThreads(sw.Runs, workers, info); err != nil {
		return err
	}
	g.backendDetails(info)
	ctx, stop := signalContext()
	defer stop()
	fmt.Fprintf(g.info(), "lwca: sweep %s: %d runs into %s, %d at a time (%s)\n", sw.Name, len(sw.Runs), out, max(workers, 1), info)
	res, err := sw.Execute(ctx, out, sweep.Options{Workers: workers, Progress: g.progress(), Verbose: g.Verbose,
		Overwrite: c.Overwrite, Backend: backendRecord(info)})
	if err != nil {
		return err
	}
	failed, err := report(g, res, out)
	if ctx.Err() != nil {
		return interrupted(fmt.Sprintf("interrupted with %d runs unfinished; the same lwca sweep command finishes them (finished runs are skipped)", failed))
	}
	return err
}

// report prints a sweep's table (one line under --quiet) and returns how many runs failed,
// with an error that says so when any did (or that the table could not be written).
func report(g *globals, res []sweep.Result, out string) (int, error) {
	failed := 0
	for _, r := range res {
		if r.Failed() {
			failed++
		}
	}
	if g.Quiet { // one line: how many runs failed, and the next command
		fmt.Fprintf(g.stdout, "%d of %d runs failed; compare with: lwca compare %s\n", failed, len(res), out)
	} else {
		fmt.Fprintln(g.stdout)
		if err := sweep.WriteTable(g.stdout, res); err != nil {
			return failed, err
		}
		fmt.Fprintf(g.stdout, "\ncompare with: lwca compare %s\n", out)
	}
	if failed > 0 {
		return failed, fmt.Errorf("%d of %d runs failed", failed, len(res))
	}
	return 0, nil
}

// runFlags are the global flags given to this command, checked, for the lwca run of each
// Slurm task.
func (g *globals) runFlags() ([]string, error) {
	if _, _, err := g.backendFlags(); err != nil {
		return nil, err
	}
	var f []string
	if g.Backend != "" {
		f = append(f, "--backend="+g.Backend)
	}
	if g.Threads != nil {
		f = append(f, "--threads="+strconv.Itoa(*g.Threads))
	}
	if g.Verbose {
		f = append(f, "--verbose")
	}
	return f, nil
}

// submit submits the sweep's unfinished runs to Slurm and, unless --wait=false, follows them.
func (c *sweepRunCmd) submit(g *globals, sw *sweep.Sweep, out string, opts sweep.SlurmOptions) error {
	// The tasks run this very program (an extension's build included) unless $LWCA names another.
	if exe, err := os.Executable(); err == nil {
		opts.Binary = exe
	}
	ctx, stop := signalContext()
	defer stop()
	sub, err := sw.Submit(ctx, out, sweep.SubmitOptions{SlurmOptions: opts})
	if err != nil {
		return err
	}
	if sub == nil {
		fmt.Fprintf(g.info(), "lwca: sweep %s: no run to submit (every run has finished or is queued)\n", sw.Name)
	} else {
		fmt.Fprintf(g.info(), "lwca: sweep %s: submitted %d of %d runs as Slurm job %s (logs in %s)\n",
			sw.Name, len(sub.Runs), len(sw.Runs), sub.JobID, filepath.Join(out, sweep.LogsDir))
	}
	if !c.Wait {
		if sub != nil {
			fmt.Fprintln(g.stdout, sub.JobID)
		}
		fmt.Fprintf(g.info(), "follow it with: lwca sweep status %s\n", out)
		return nil
	}
	return follow(ctx, g, out)
}

// follow shows the sweep's tasks until they end, then its table.
func follow(ctx context.Context, g *globals, dir string) error {
	ts, err := sweep.Follow(ctx, dir, sweep.FollowOptions{Every: slurmPoll, Progress: g.progress()})
	if errors.Is(err, context.Canceled) {
		// Ctrl-C stops following the tasks, not the tasks.
		return interrupted(fmt.Sprintf("stopped following the tasks, which go on in Slurm; follow them again with lwca sweep status %s --wait", dir))
	}
	if err != nil {
		return err
	}
	_, err = report(g, sweep.Results(ts), dir)
	return err
}

type sweepStatusCmd struct {
	Dir  string `arg:"" name:"dir" help:"The sweep directory."`
	Wait bool   `help:"Follow the tasks until they end, then print the table."`
}

func (c *sweepStatusCmd) Help() string {
	return `status DIR shows each Slurm task of a sweep submitted with lwca sweep CONFIG --executor slurm:
pending, running (with its step), completed, diverged or failed (with its log), from Slurm's
queue (squeue), its accounting (sacct, where the cluster keeps it) and the run directories.`
}

func (c *sweepStatusCmd) Run(g *globals) error {
	ctx, stop := signalContext()
	defer stop()
	if c.Wait {
		return follow(ctx, g, c.Dir)
	}
	ts, err := sweep.Status(ctx, c.Dir, nil)
	if err != nil {
		return err
	}
	queued := 0
	for _, t := range ts {
		if t.Queued() {
			queued++
		}
		fmt.Fprintln(g.stdout, t.Line(len(ts)))
	}
	if queued > 0 {
		fmt.Fprintf(g.stdout, "\n%d of %d tasks pending or running\n", queued, len(ts))
		return nil
	}
	_, err = report(g, sweep.Results(ts), c.Dir)
	return err
}

// slurmPoll is how often a followed sweep looks at Slurm's queue: $LWCA_SLURM_POLL (a Go
// duration such as 30s or 500ms), else 5 s.
var slurmPoll = pollInterval(os.Getenv("LWCA_SLURM_POLL"))

// pollInterval reads $LWCA_SLURM_POLL; an empty, unreadable or non-positive value gives the
// default, 5 s.
func pollInterval(v string) time.Duration {
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	return 5 * time.Second
}
