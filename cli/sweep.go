package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
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

// cmdSweep implements
//
//	lwca sweep CONFIG [--out DIR] [--workers N] [--set a.b=value ...] [--overwrite] [--dry-run] [--emit slurm]
func cmdSweep(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, append([]string{"out", "workers", "set", "emit"}, commonValued...), []string{"overwrite", "dry-run"})
	if err != nil {
		return err
	}
	if len(f.positional) != 1 {
		return usageError{"sweep takes exactly one CONFIG file"}
	}
	workers := 0
	if s := f.last("workers"); s != "" {
		if workers, err = strconv.Atoi(s); err != nil || workers < 1 {
			return usageError{fmt.Sprintf("--workers %q: expected a whole number ≥ 1", s)}
		}
	}
	sw, err := sweep.Load(f.positional[0], f.values["set"])
	if err != nil {
		return err
	}
	out := f.last("out")
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
	if f.last("dry-run") != "" {
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
	switch emit := f.last("emit"); emit {
	case "":
	case "slurm":
		path, err := sw.WriteSlurm(out, sweep.SlurmOptions{Parallel: workers})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d runs: submit with\n  sbatch %s\nthen compare with\n  lwca compare %s\n", len(sw.Runs), path, out)
		return nil
	default:
		return usageError{fmt.Sprintf("--emit %q: the only emitter is slurm", emit)}
	}
	info, err := setupBackend(f)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	fmt.Fprintf(stderr, "lwca: sweep %s: %d runs into %s, %d at a time (%s)\n", sw.Name, len(sw.Runs), out, max(workers, 1), info)
	res, err := sw.Execute(ctx, out, sweep.Options{Workers: workers, Progress: stderr,
		Overwrite: f.last("overwrite") != "", Backend: backendRecord(info)})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := sweep.WriteTable(stdout, res); err != nil {
		return err
	}
	failed := 0
	for _, r := range res {
		if r.Failed() {
			failed++
		}
	}
	fmt.Fprintf(stdout, "\ncompare with: lwca compare %s\n", out)
	switch {
	case ctx.Err() != nil:
		return sweepInterrupted{failed}
	case failed > 0:
		return fmt.Errorf("%d of %d runs failed", failed, len(res))
	}
	return nil
}
