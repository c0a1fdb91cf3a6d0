// Command lwca trains networks and analyses their layer-wise conditioning.
//
//	lwca run CONFIG [--out DIR] [--set a.b=value ...]   train one experiment into a run directory
//	lwca version                                        print the version and numeric backend
//
// See README.md for the config format and the files a run writes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/experiments/config"
)

const usage = `usage:
  lwca run CONFIG [--out DIR] [--overwrite] [--set a.b=value ...]
  lwca version

run trains the experiment described by the YAML file CONFIG. Results go to --out DIR, by
default runs/<name> (runs/<name>.2, .3, … when that already holds a run). --set overrides
any config field with a dotted path, e.g. --set optim.lr=0.05 --set train.steps=100.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "lwca: %v\n\n%s", err, usage)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "lwca: %v\n", err)
		return 1
	}
	return 0
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// flags parses "--name value", "--name=value" and boolean "--name" options anywhere among
// positional arguments.
type flags struct {
	positional []string
	values     map[string][]string
}

func parseFlags(args []string, valued, boolean []string) (flags, error) {
	f := flags{values: map[string][]string{}}
	isValued := map[string]bool{}
	for _, v := range valued {
		isValued[v] = true
	}
	isBool := map[string]bool{}
	for _, b := range boolean {
		isBool[b] = true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			f.positional = append(f.positional, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case isBool[name] && !hasVal:
			f.values[name] = append(f.values[name], "true")
		case isValued[name] && hasVal:
			f.values[name] = append(f.values[name], val)
		case isValued[name]:
			if i+1 >= len(args) {
				return f, usageError{fmt.Sprintf("--%s needs a value", name)}
			}
			i++
			f.values[name] = append(f.values[name], args[i])
		default:
			return f, usageError{fmt.Sprintf("unknown option %s", a)}
		}
	}
	return f, nil
}

func (f flags) last(name string) string {
	if v := f.values[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, []string{"out", "set"}, []string{"overwrite"})
	if err != nil {
		return err
	}
	if len(f.positional) != 1 {
		return usageError{"run takes exactly one CONFIG file"}
	}
	cfg, err := config.Load(f.positional[0], f.values["set"])
	if err != nil {
		return err
	}
	out := f.last("out")
	switch {
	case out == "":
		out = freeRunDir(filepath.Join("runs", cfg.Name))
	case holdsRun(out) && f.last("overwrite") == "":
		return fmt.Errorf("%s already holds a run; choose another --out or add --overwrite", out)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stderr, "lwca: running %s into %s\n", cfg.Name, out)
	sum, err := experiments.Run(ctx, cfg, out, experiments.Options{Progress: stderr})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s after %d steps, test accuracy %.4f (best %.4f), %.1fs; results in %s\n",
		sum.Name, sum.Status, sum.Steps, float64(sum.Final.TestAccuracy), float64(sum.BestTest), sum.WallSeconds, out)
	if sum.Status == experiments.StatusStopped {
		return errors.New("interrupted")
	}
	return nil
}

func holdsRun(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, experiments.SummaryFile))
	return err == nil
}

func freeRunDir(base string) string {
	if !holdsRun(base) {
		return base
	}
	for i := 2; ; i++ {
		if d := base + "." + strconv.Itoa(i); !holdsRun(d) {
			return d
		}
	}
}

func versionString() string {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	return "lwca " + v
}
