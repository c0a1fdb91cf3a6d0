package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lwca/lwca/compare"
)

// cmdCompare implements
//
//	lwca compare RUN_OR_SWEEP_DIR... [--out DIR] [--align step|epoch] [--steps 0,500,...]
//	    [--p 0.5] [--spread minmax|std] [--depth-at S,...] [--spectra-at S,...] [--smooth N] [--title T]
func cmdCompare(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, []string{"out", "align", "steps", "p", "spread", "depth-at", "spectra-at", "smooth", "title"}, nil)
	if err != nil {
		return err
	}
	if len(f.positional) == 0 {
		return usageError{"compare takes one or more run or sweep directories"}
	}
	var opts compare.Options
	if opts.Align, err = compare.ParseAlignment(f.last("align")); err != nil {
		return usageError{err.Error()}
	}
	for name, dst := range map[string]*[]int{"steps": &opts.Targets, "depth-at": &opts.DepthAt, "spectra-at": &opts.SpectraAt} {
		if s := f.last(name); s != "" {
			if *dst, err = intList(s); err != nil {
				return usageError{fmt.Sprintf("--%s %q: %v", name, s, err)}
			}
		}
	}
	if s := f.last("p"); s != "" {
		if opts.P, err = strconv.ParseFloat(s, 64); err != nil || !(opts.P > 0 && opts.P <= 1) {
			return usageError{fmt.Sprintf("--p %q: expected a fraction in (0, 1]", s)}
		}
	}
	switch s := f.last("spread"); s {
	case "", "minmax":
	case "std":
		opts.Spread = compare.SpreadStd
	default:
		return usageError{fmt.Sprintf("--spread %q: expected minmax or std", s)}
	}
	if s := f.last("smooth"); s != "" {
		if opts.Smooth, err = strconv.Atoi(s); err != nil || opts.Smooth < 1 {
			return usageError{fmt.Sprintf("--smooth %q: expected a whole number of steps ≥ 1", s)}
		}
	}
	opts.Title = f.last("title")
	out := f.last("out")
	if out == "" {
		out = filepath.Join("runs", "compare")
		if len(f.positional) == 1 {
			out = filepath.Join(f.positional[0], "compare")
		}
	}
	runs, warnings, err := compare.Discover(f.positional...)
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
	for _, w := range rep.Warnings {
		fmt.Fprintf(stderr, "lwca: warning: %s\n", w)
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
	fmt.Fprintf(stdout, "report: %s (tables.md, tables/, figures/ beside it)\n", filepath.Join(out, "report.html"))
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
