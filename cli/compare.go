package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lwca/lwca/compare"
)

type compareCmd struct {
	Dirs      []string `arg:"" name:"run-or-sweep-dir" help:"Run directories, sweep directories or directories of run directories."`
	Out       string   `short:"o" placeholder:"DIR" help:"Output directory (default: DIR/compare for one argument, else runs/compare)."`
	Align     string   `placeholder:"step|epoch" help:"Align runs by step (default) or by epoch."`
	Steps     string   `placeholder:"S,..." help:"Aligned steps (or epochs) for the tables (default: up to five shared analysis steps)."`
	P         *float64 `placeholder:"P" help:"Which κ_p the tables and figures show, p in (0, 1] (default 0.5)."`
	Spread    string   `placeholder:"minmax|std" help:"Band around a group's mean: smallest to largest run (default), or one standard deviation."`
	DepthAt   string   `placeholder:"S,..." help:"Steps of the depth figures (default: the last aligned step)."`
	SpectraAt string   `placeholder:"S,..." help:"Steps of the spectrum figures (default: the first and last aligned steps)."`
	Smooth    *int     `placeholder:"N" help:"Window, in steps, of the mean that smooths the loss curves; 1: raw (default: about 1/200 of the longest run)."`
	Title     string   `placeholder:"T" help:"Title of the report (default: lwca comparison)."`
}

func (c *compareCmd) Run(g *globals) error {
	var opts compare.Options
	var err error
	if opts.Align, err = compare.ParseAlignment(c.Align); err != nil {
		return usageError{msg: err.Error()}
	}
	for name, v := range map[string]struct {
		s   string
		dst *[]int
	}{"steps": {c.Steps, &opts.Targets}, "depth-at": {c.DepthAt, &opts.DepthAt}, "spectra-at": {c.SpectraAt, &opts.SpectraAt}} {
		if v.s != "" {
			if *v.dst, err = intList(v.s); err != nil {
				return usageError{msg: fmt.Sprintf("--%s %q: %v", name, v.s, err)}
			}
		}
	}
	if c.P != nil {
		if opts.P = *c.P; !(opts.P > 0 && opts.P <= 1) {
			return usageError{msg: fmt.Sprintf("--p %v: expected a fraction in (0, 1]", opts.P)}
		}
	}
	switch c.Spread {
	case "", "minmax":
	case "std":
		opts.Spread = compare.SpreadStd
	default:
		return usageError{msg: fmt.Sprintf("--spread %q: expected minmax or std", c.Spread)}
	}
	if c.Smooth != nil {
		if opts.Smooth = *c.Smooth; opts.Smooth < 1 {
			return usageError{msg: fmt.Sprintf("--smooth %d: expected a whole number of steps ≥ 1", opts.Smooth)}
		}
	}
	opts.Title = c.Title
	out := c.Out
	if out == "" {
		out = filepath.Join("runs", "compare")
		if len(c.Dirs) == 1 {
			out = filepath.Join(c.Dirs[0], "compare")
		}
	}
	stdout, stderr := g.stdout, g.info()
	if g.Quiet { // the report's path is the result
		stdout = io.Discard
	}
	runs, warnings, err := compare.Discover(c.Dirs...)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "lwca: %s\n", w)
	}
	rep, err := compare.Compare(runs, opts)
	if err != nil {
		return err
	}
	if err := rep.Write(out); err != nil {
		return err
	}
	for _, w := range rep.Warnings { // shown under --quiet too: the report may not show what was asked
		fmt.Fprintf(g.stderr, "lwca: warning: %s\n", w)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(stderr, "lwca: %s\n", n)
	}
	fmt.Fprintf(stdout, "%d runs in %d groups, aligned by %s at %s\n", len(rep.Runs), len(rep.Groups), opts.Align, joinInts(rep.Targets))
	// A count per diagnostic, then the first few findings; the report lists them all.
	count, inRuns := map[string]int{}, map[string]map[string]bool{}
	var kinds []string
	for _, d := range rep.Findings {
		if count[d.Diagnostic] == 0 {
			kinds = append(kinds, d.Diagnostic)
			inRuns[d.Diagnostic] = map[string]bool{}
		}
		count[d.Diagnostic]++
		inRuns[d.Diagnostic][d.Run] = true
	}
	for _, k := range kinds {
		fmt.Fprintf(stdout, "%s: %d findings in %d runs\n", k, count[k], len(inRuns[k]))
	}
	const shown = 10
	for i, d := range rep.Findings {
		if i == shown {
			fmt.Fprintf(stdout, "  … %d more in the report\n", len(rep.Findings)-shown)
			break
		}
		fmt.Fprintf(stdout, "  %s: %s %s: %s\n", d.Diagnostic, d.Run, d.Layer, d.Message)
	}
	fmt.Fprintf(g.stdout, "report: %s (tables.md, tables/, figures/ beside it)\n", filepath.Join(out, "report.html"))
	return nil
}

// intList parses "0,500,1000".
func intList(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 {
			return nil, fmt.Errorf("expected whole numbers ≥ 0 separated by commas")
		}
		out = append(out, v)
	}
	return out, nil
}

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, strconv.Itoa(x))
	}
	return strings.Join(s, ", ")
}
