// Package cli is the lwca command line as a library. A program that imports lwca and its own
// extensions (layer types, architectures, optimisers, initialisers registered in init
// functions) and calls Main is a complete lwca with them:
//
//	package main
//
//	import (
//		"github.com/lwca/lwca/cli"
//		_ "example.com/mylayers" // registers its layer types
//	)
//
//	func main() { cli.Main() }
//
// The commands:
//
//	lwca run CONFIG [--out DIR] [--set a.b=value ...]   train one experiment into a run directory
//	lwca run --resume RUN_DIR                           continue an interrupted run
//	lwca analyze RUN_DIR [--step S] [--batch-size N]    analyse a saved model state
//	lwca version                                        print the version and numeric backend
//
// See README.md for the config format and the files a run writes.
package cli

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
  lwca run --resume RUN_DIR [--allow-config-change]
  lwca analyze RUN_DIR [--step S] [--batch-size N] [--out DIR]
  lwca sweep CONFIG [--out DIR] [--workers N] [--emit slurm]
  lwca compare RUN_OR_SWEEP_DIR... [--out DIR]
  lwca data get cifar10|fashion-mnist [--dir DIR]
  lwca reproduce NAME [--quick] [--out DIR]   (bn-stability, bn-conditioning, false-minimum, last-layer)
  lwca bench [--only w1,w2] [--repeat N] [--slow] [--no-torch] [--torch-threads N]
  lwca version

run trains the experiment described by the YAML file CONFIG. Results go to --out DIR, by
default runs/<name> (runs/<name>.2, .3, … when that already holds a run). --set overrides
any config field with a dotted path, e.g. --set optim.lr=0.05 --set train.steps=100.
Ctrl-C (or SIGTERM) finishes the current step, writes a checkpoint and exits with status 3;
--resume RUN_DIR continues it (from step 0 if it ended before its first checkpoint; a
config.yaml edited since the checkpoint needs --allow-config-change). A second Ctrl-C stops
at once. A run directory is locked while a process works in it.

analyze runs the conditioning analysis on a model state that a run saved
(analysis.save_weights_every), on a fixed, seeded batch of N training samples.

data get downloads a data set into the data root, $LWCA_DATA (default ~/.cache/lwca/data),
where configs that name the data set (dataset: cifar10) find it.

Every command takes --backend auto|openblas|gonum (or LWCA_BACKEND) and --threads N.
`

// Main runs the command line on the program's arguments and exits with its status.
func Main() { os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr)) }

// Run runs the command line args (without the program name) and returns the exit status: 0
// done, 1 failed, 2 usage error, 3 interrupted (resumable).
func Run(args []string, stdout, stderr io.Writer) int { return run(args, stdout, stderr) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stdout, stderr)
	case "analyze", "analyse":
		err = cmdAnalyze(args[1:], stdout, stderr)
	case "data":
		err = cmdData(args[1:], stdout, stderr)
	case "reproduce":
		err = cmdReproduce(args[1:], stdout, stderr)
	case "bench":
		err = cmdBench(args[1:], stdout, stderr)
	case "compare":
		err = cmdCompare(args[1:], stdout, stderr)
	case "sweep":
		err = cmdSweep(args[1:], stdout, stderr)
	case "version":
		err = cmdVersion(args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage+"\n"+dataUsage)
	default:
		err = usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	var ue usageError
	switch {
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(stderr, "lwca: %v\n", err)
		return 3
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

var errInterrupted = errors.New("interrupted; the run can be continued with lwca run --resume")

// commonFlags are accepted by every command.
var commonValued = []string{"backend", "threads"}

// signalContext is cancelled by the first SIGINT/SIGTERM; a second one ends the process at
// once (the default behaviour is restored after the first).
func signalContext() (context.Context, func()) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, append([]string{"out", "set", "resume"}, commonValued...), []string{"overwrite", "allow-config-change"})
	if err != nil {
		return err
	}
	info, err := setupBackend(f)
	if err != nil {
		return err
	}
	opts := experiments.Options{Progress: stderr, Backend: backendRecord(info)}
	ctx, stop := signalContext()
	defer stop()
	var sum *experiments.Summary
	out := f.last("resume")
	if out == "" && f.last("allow-config-change") != "" {
		return usageError{"--allow-config-change goes with --resume RUN_DIR"}
	}
	if out != "" {
		opts.AllowConfigChange = f.last("allow-config-change") != ""
		if len(f.positional) != 0 || len(f.values["set"]) != 0 || f.last("out") != "" {
			return usageError{"--resume RUN_DIR takes no CONFIG, --set or --out: the run's own config.yaml is used"}
		}
		if cfg, err := config.Load(filepath.Join(out, experiments.ConfigFile), nil); err == nil {
			if info, err = convThreads(f, cfg, info); err != nil {
				return err
			}
			opts.Backend = backendRecord(info)
		}
		fmt.Fprintf(stderr, "lwca: resuming %s (%s)\n", out, info)
		if sum, err = experiments.Resume(ctx, out, opts); err != nil {
			return err
		}
	} else {
		if len(f.positional) != 1 {
			return usageError{"run takes exactly one CONFIG file"}
		}
		cfg, err := config.Load(f.positional[0], f.values["set"])
		if err != nil {
			return err
		}
		out = f.last("out")
		switch {
		case out == "":
			// The config validated the name; ChildDir keeps runs/ the parent whatever it is.
			dir, err := experiments.ChildDir("runs", cfg.Name)
			if err != nil {
				return err
			}
			out = freeRunDir(dir)
		case holdsRun(out) && f.last("overwrite") == "":
			return fmt.Errorf("%s already holds a run; choose another --out, add --overwrite, or continue it with --resume", out)
		}
		if info, err = convThreads(f, cfg, info); err != nil {
			return err
		}
		opts.Backend = backendRecord(info)
		fmt.Fprintf(stderr, "lwca: running %s into %s (%s)\n", cfg.Name, out, info)
		if sum, err = experiments.Run(ctx, cfg, out, opts); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%s: %s after %d steps, test accuracy %.4f (best %.4f), %.1fs; results in %s\n",
		sum.Name, sum.Status, sum.Steps, float64(sum.Final.TestAccuracy), float64(sum.BestTest), sum.WallSeconds, out)
	if sum.Status == experiments.StatusStopped {
		return errInterrupted
	}
	return nil
}

func cmdAnalyze(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, append([]string{"step", "batch-size", "out"}, commonValued...), nil)
	if err != nil {
		return err
	}
	if len(f.positional) != 1 {
		return usageError{"analyze takes exactly one RUN_DIR"}
	}
	o := experiments.AnalyzeOptions{Step: -1, Out: f.last("out")}
	for name, dst := range map[string]*int{"step": &o.Step, "batch-size": &o.BatchSize} {
		if s := f.last(name); s != "" {
			if *dst, err = strconv.Atoi(s); err != nil || *dst < 0 {
				return usageError{fmt.Sprintf("--%s %q: expected a whole number ≥ 0", name, s)}
			}
		}
	}
	if _, err := setupBackend(f); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	out, err := experiments.Analyze(ctx, f.positional[0], o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "analysis written to %s\n", out)
	return nil
}

func cmdVersion(args []string, stdout io.Writer) error {
	f, err := parseFlags(args, commonValued, nil)
	if err != nil {
		return err
	}
	info, err := setupBackend(f)
	fmt.Fprintln(stdout, versionString())
	fmt.Fprintf(stdout, "backend: %s\n", info)
	return err
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
