package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/reproduce"
)

type reproduceCmd struct {
	Name    string `arg:"" name:"name" help:"bn-stability, bn-conditioning, bn-conditioning-shapes, false-minimum, false-minimum-natural, last-layer, last-layer-accuracy or curvature-stability."`
	Out     string `short:"o" placeholder:"DIR" help:"Output directory (default: runs/reproduce/NAME, NAME-quick with --quick)."`
	Quick   bool   `help:"The small variant: a few minutes on two cores."`
	Configs string `placeholder:"DIR" help:"The experiments' base configs (default: configs/reproduce, found from the working directory up)."`
	DryRun  bool   `short:"n" help:"List the runs; train nothing."`
	Report  bool   `name:"report-only" help:"Write the report and checks from the runs finished so far; train nothing (last-layer-accuracy, whose study takes hours)."`
}

func (c *reproduceCmd) Help() string {
	return `reproduce runs the experiment's configs one after the other, writes the comparison report and
prints one line per check. A check that fails is a result: the status is 0 unless a run could
not be done. Repeating the command keeps the runs that finished and resumes interrupted ones
from their last checkpoint.`
}

func (c *reproduceCmd) Run(g *globals) error {
	name, quick, stdout := c.Name, c.Quick, g.stdout
	plan, err := reproduce.Plan(name, quick)
	if err != nil {
		return usageError{msg: err.Error()}
	}
	if c.DryRun {
		for _, l := range plan {
			fmt.Fprintln(stdout, l)
		}
		return nil
	}
	configs := c.Configs
	if configs == "" {
		if configs, err = reproduce.FindConfigs("."); err != nil {
			return err
		}
	}
	out := c.Out
	if out == "" {
		out = filepath.Join("runs", "reproduce", name)
		if quick {
			out += "-quick"
		}
	}
	info, err := g.setupBackend()
	if err != nil {
		return err
	}
	g.backendDetails(info)
	if strings.HasPrefix(name, "last-layer") { // convolutional networks: one BLAS thread unless --threads says otherwise
		cfg, err := config.Load(filepath.Join(configs, "cifar10_resnet_lastlayer.yaml"), nil)
		if err != nil {
			return err
		}
		if info, err = g.runThreads(cfg, info); err != nil {
			return err
		}
	}
	ctx, stop := signalContext()
	defer stop()
	fmt.Fprintf(g.info(), "lwca: reproduce %s (quick %v) into %s (%s)\n", name, quick, out, info)
	res, err := reproduce.Run(ctx, name, reproduce.Options{Configs: configs, Out: out, Quick: quick, Progress: g.progress(), Verbose: g.Verbose,
		Backend: backendRecord(info), ReportOnly: c.Report})
	if err != nil {
		if ctx.Err() != nil {
			return interrupted("interrupted; the same command continues the study, keeping its finished runs")
		}
		return err
	}
	variant := "full"
	if quick {
		variant = "quick"
	}
	if !g.Quiet { // the verdict line is the result
		fmt.Fprintf(stdout, "%s (%s), %d runs, %.0f s\n", name, variant, len(res.Runs), res.WallSeconds)
		if len(res.Missing) > 0 {
			fmt.Fprintf(stdout, "not finished, so not in the checks: %s\n", strings.Join(res.Missing, ", "))
		}
		for _, ch := range res.Checks {
			fmt.Fprintln(stdout, ch)
		}
	}
	verdict := "the expected direction holds in every check"
	if !res.Passed() {
		n := 0
		for _, ch := range res.Checks {
			if !ch.Pass {
				n++
			}
		}
		verdict = fmt.Sprintf("the expected direction does NOT hold in %d of %d checks", n, len(res.Checks))
	}
	fmt.Fprintf(stdout, "%s: %s\n", name, verdict)
	if !g.Quiet {
		fmt.Fprintf(stdout, "report: %s; checks: %s\n", filepath.Join(out, "compare", "report.html"), filepath.Join(out, "checks.md"))
	}
	return nil
}
