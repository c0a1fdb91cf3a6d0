package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/reproduce"
)

// cmdReproduce implements
//
//	lwca reproduce NAME [--out DIR] [--quick] [--configs DIR] [--dry-run]
//
// NAME is one of bn-stability, bn-conditioning, false-minimum, last-layer. It runs the
// experiment's configs one after the other, writes the comparison report and prints one line
// per check. A check that fails is a result: the status is 0 unless a run could not be done.
func cmdReproduce(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, append([]string{"out", "configs"}, commonValued...), []string{"quick", "dry-run"})
	if err != nil {
		return err
	}
	if len(f.positional) != 1 {
		return usageError{"reproduce takes exactly one NAME: " + strings.Join(reproduce.Names(), ", ")}
	}
	name, quick := f.positional[0], f.last("quick") != ""
	if f.last("dry-run") != "" {
		plan, err := reproduce.Plan(name, quick)
		if err != nil {
			return usageError{err.Error()}
		}
		for _, l := range plan {
			fmt.Fprintln(stdout, l)
		}
		return nil
	}
	if _, err := reproduce.Plan(name, quick); err != nil {
		return usageError{err.Error()}
	}
	configs := f.last("configs")
	if configs == "" {
		if configs, err = reproduce.FindConfigs("."); err != nil {
			return err
		}
	}
	out := f.last("out")
	if out == "" {
		out = filepath.Join("runs", "reproduce", name)
		if quick {
			out += "-quick"
		}
	}
	info, err := setupBackend(f)
	if err != nil {
		return err
	}
	if name == "last-layer" { // convolutional networks: one BLAS thread unless --threads says otherwise
		cfg, err := config.Load(filepath.Join(configs, "cifar10_resnet_lastlayer.yaml"), nil)
		if err != nil {
			return err
		}
		if info, err = convThreads(f, cfg, info); err != nil {
			return err
		}
	}
	ctx, stop := signalContext()
	defer stop()
	fmt.Fprintf(stderr, "lwca: reproduce %s (quick %v) into %s (%s)\n", name, quick, out, info)
	res, err := reproduce.Run(ctx, name, reproduce.Options{Configs: configs, Out: out, Quick: quick, Progress: stderr,
		Backend: backendRecord(info)})
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	variant := "full"
	if quick {
		variant = "quick"
	}
	fmt.Fprintf(stdout, "%s (%s), %d runs, %.0f s\n", name, variant, len(res.Runs), res.WallSeconds)
	for _, c := range res.Checks {
		fmt.Fprintln(stdout, c)
	}
	verdict := "the expected direction holds in every check"
	if !res.Passed() {
		n := 0
		for _, c := range res.Checks {
			if !c.Pass {
				n++
			}
		}
		verdict = fmt.Sprintf("the expected direction does NOT hold in %d of %d checks", n, len(res.Checks))
	}
	fmt.Fprintf(stdout, "%s: %s\n", name, verdict)
	fmt.Fprintf(stdout, "report: %s; checks: %s\n", filepath.Join(out, "compare", "report.html"), filepath.Join(out, "checks.md"))
	return nil
}
