package cli

import (
	"fmt"

	"path/filepath"
	"strings"

	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/experiments/sweep"
)

// sweepInterrupted reports a sweep stopped by a signal; it counts as errInterrupted for the
// exit status.
type sweepInterrupted struct{ unfinished int }

func (e sweepInterrupted) Error() string {
	return fmt.Sprintf("interrupted with %d runs unfinished; the same lwca sweep command finishes them (finished runs are skipped)", e.unfinished)
}

func (e sweepInterrupted) Is(target error) bool { return target == errInterrupted }

type sweepCmd struct {
	Config    string   `arg:"" name:"config" help:"A config with a sweep: section."`
	Out       string   `short:"o" placeholder:"DIR" help:"Sweep directory (default: runs/<name>)."`
	Workers   *int     `short:"w" placeholder:"N" help:"Runs trained at once (default 1); with --emit slurm, the array's %N (default: no limit)."`
	Set       []string `short:"s" sep:"none" placeholder:"PATH=VALUE" help:"Override a config field in every run; repeatable."`
	Overwrite bool     `help:"Retrain runs whose directory holds a finished run of another config."`
	DryRun    bool     `short:"n" help:"List the runs and their overrides; train nothing."`
	Emit      string   `placeholder:"slurm" help:"Write a Slurm job array instead of training."`
}

func (c *sweepCmd) Help() string {
	return `Every combination of the values under sweep: is one run; the same command again skips
finished runs and retrains the rest. Ctrl-C stops the running runs after their current step.`
}

func (c *sweepCmd) Run(g *globals) error {
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
	if c.Emit == "slurm" {
		path, err := sw.WriteSlurm(out, sweep.SlurmOptions{Parallel: workers})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d runs: submit with\n  sbatch %s\nthen compare with\n  lwca compare %s\n", len(sw.Runs), path, out)
		return nil
	}
	info, err := g.setupBackend()
	if err != nil {
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
	failed := 0
	for _, r := range res {
		if r.Failed() {
			failed++
		}
	}
	if g.Quiet { // one line: how many runs failed, and the next command
		fmt.Fprintf(stdout, "%d of %d runs failed; compare with: lwca compare %s\n", failed, len(res), out)
	} else {
		fmt.Fprintln(stdout)
		if err := sweep.WriteTable(stdout, res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\ncompare with: lwca compare %s\n", out)
	}
	switch {
	case ctx.Err() != nil:
		return sweepInterrupted{failed}
	case failed > 0:
		return fmt.Errorf("%d of %d runs failed", failed, len(res))
	}
	return nil
}
