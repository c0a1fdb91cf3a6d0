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
// The commands are the fields of type commands; kong builds the parser, the help (lwca help
// CMD, lwca CMD --help), the suggestions for mistyped names and the shell completion from
// their struct tags. See README.md for the config format and the files a run writes.
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

	"github.com/alecthomas/kong"

	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/experiments/config"
)

// commands is the command line: the global flags and one field per command. A new command is
// one more field here: a struct whose tagged fields are its arguments and
// flags, with a Run(*globals) error method. README.md's command reference must then list it;
// TestREADMECommandReference prints the lines it expects.
type commands struct {
	globals

	Run        runCmd        `cmd:"" help:"Train one experiment into a run directory."`
	Analyze    analyzeCmd    `cmd:"" aliases:"analyse" help:"Analyse a saved model state of a run."`
	Sweep      sweepCmd      `cmd:"" help:"Train many runs from one config."`
	Compare    compareCmd    `cmd:"" help:"Tables, figures and report.html for runs and sweeps."`
	Serve      serveCmd      `cmd:"" help:"Serve the comparison report live while runs write."`
	Reproduce  reproduceCmd  `cmd:"" help:"Reproduce one of the paper's findings (REPRODUCTION.md)."`
	Data       dataCmd       `cmd:"" help:"Download data sets into the data root."`
	Bench      benchCmd      `cmd:"" help:"Measure lwca's speed next to PyTorch on this machine."`
	Version    versionCmd    `cmd:"" help:"Print the version and the numeric backend."`
	Help       helpCmd       `cmd:"" help:"Show the help of a command."`
	Completion completionCmd `cmd:"" help:"Print the shell code that completes lwca's commands and flags."`
}

// globals are the flags every command takes, and where commands print.
type globals struct {
	Backend string `placeholder:"auto|openblas|gonum" help:"Numeric backend (default: $$LWCA_BACKEND, else auto)."`
	Threads *int   `placeholder:"N" help:"BLAS threads; 0: one per core (default: 1 for convolutional networks, else one per core)."`
	Quiet   bool   `short:"q" xor:"verbosity" help:"Print only errors and the final result."`
	Verbose bool   `short:"v" xor:"verbosity" help:"Print more: backend details, per-layer analysis times."`

	stdout, stderr io.Writer `kong:"-"`
}

// info is where commands say what they are doing: stderr, nothing under --quiet.
func (g *globals) info() io.Writer {
	if g.Quiet {
		return io.Discard
	}
	return g.stderr
}

// progress is the runs' progress destination: stderr, nil (silent) under --quiet.
func (g *globals) progress() io.Writer {
	if g.Quiet {
		return nil
	}
	return g.stderr
}

// Main runs the command line on the program's arguments, under a soft memory limit of 80 %
// of the machine's memory unless GOMEMLIMIT sets one (see limitMemory), and exits with its
// status.
func Main() {
	limitMemory()
	os.Exit(Run(os.Args[1:], os.Stdout, os.Stderr))
}

// Run runs the command line args (without the program name) and returns the exit status: 0
// done, 1 failed, 2 usage error, 3 interrupted (resumable).
func Run(args []string, stdout, stderr io.Writer) int { return run(args, stdout, stderr) }

func run(args []string, stdout, stderr io.Writer) int {
	return status(execute(args, stdout, stderr), stderr)
}

// status reports err on stderr and returns the command line's exit status for it.
func status(err error, stderr io.Writer) int {
	var ue usageError
	var done exitStatus
	switch {
	case errors.As(err, &done):
		return int(done)
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(stderr, "lwca: %v\n", err)
		return 3
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "lwca: %v\n", err)
		if ue.cmd != "" {
			fmt.Fprintf(stderr, "see: lwca %s --help\n", ue.cmd)
		} else {
			fmt.Fprintln(stderr, "see: lwca --help")
		}
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "lwca: %v\n", err)
		return 1
	}
	return 0
}

// exitStatus ends the command line early with a status: help was shown (0), or shell
// completion answered.
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// newParser builds the command line for cmds.
func newParser(cmds *commands, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(cmds,
		kong.Name("lwca"),
		kong.Description("lwca trains networks and analyses the conditioning of every weighted layer during training."),
		kong.Writers(stdout, stderr),
		// Help and completion end the parse; the panic carries the status back to execute.
		kong.Exit(func(code int) { panic(exitStatus(code)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, WrapUpperBound: 100}),
	)
}

// execute parses args and runs the command. Errors of the command line itself are
// usageErrors; exitStatus means help or completion was printed.
func execute(args []string, stdout, stderr io.Writer) (err error) {
	cmds := &commands{globals: globals{stdout: stdout, stderr: stderr}}
	if len(args) == 0 && os.Getenv("COMP_LINE") == "" { // the overview, on stderr: a command was expected
		args, stdout = []string{"--help"}, stderr
		defer func() {
			if err == exitStatus(0) {
				err = exitStatus(2)
			}
		}()
	}
	k, err := newParser(cmds, stdout, stderr)
	if err != nil {
		return err // a mistake in the definitions above
	}
	defer func() {
		if r := recover(); r != nil {
			s, ok := r.(exitStatus)
			if !ok {
				panic(r)
			}
			err = s
		}
	}()
	completeLine(k)
	ctx, err := k.Parse(args)
	if err != nil {
		cmd := ""
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil {
			cmd = commandPath(pe.Context)
		}
		return usageError{err.Error(), cmd}
	}
	err = ctx.Run(&cmds.globals)
	var ue usageError
	if errors.As(err, &ue) { // kong wraps the command's errors
		if ue.cmd == "" {
			ue.cmd = commandPath(ctx)
		}
		return ue
	}
	return err
}

// commandPath is the command a parse reached, "data get" for instance, without arguments.
func commandPath(ctx *kong.Context) string {
	var names []string
	for _, p := range ctx.Path {
		if p.Command != nil {
			names = append(names, p.Command.Name)
		}
	}
	return strings.Join(names, " ")
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct {
	msg string
	cmd string // the command whose help to point at; "" for the overview
}

func (e usageError) Error() string { return e.msg }

// helpCmd shows the help of a command: lwca help sweep is lwca sweep --help.
type helpCmd struct {
	Command []string `arg:"" optional:"" name:"command" help:"The command, e.g. run or data get."`
}

func (c *helpCmd) Run(ctx *kong.Context) error {
	_, err := ctx.Kong.Parse(append(c.Command, "--help"))
	if err != nil {
		return usageError{msg: err.Error(), cmd: "help"}
	}
	return nil
}

// completionCmd prints the code a shell needs to complete lwca: the shell then runs lwca
// itself, which answers through kongplete.
type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

func (c *completionCmd) Help() string {
	return "Add its output to the shell's start-up file, e.g. for bash:\n  lwca completion bash >> ~/.bashrc"
}

func (c *completionCmd) Run(g *globals) error {
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	name := filepath.Base(bin)
	switch c.Shell {
	case "bash":
		fmt.Fprintf(g.stdout, "complete -C %q %s\n", bin, name)
	case "zsh":
		fmt.Fprintf(g.stdout, "autoload -U +X bashcompinit && bashcompinit\ncomplete -C %q %s\n", bin, name)
	case "fish":
		fmt.Fprintf(g.stdout, `function __complete_%[2]s
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    %[1]q
end
complete -f -c %[2]s -a "(__complete_%[2]s)"
`, bin, name)
	}
	return nil
}

var errInterrupted = errors.New("interrupted; the run can be continued with lwca run --resume")

// interrupted is a command stopped by a signal, in words that say how to continue it; it
// counts as errInterrupted for the exit status (3).
type interrupted string

func (e interrupted) Error() string { return string(e) }

func (e interrupted) Is(target error) bool { return target == errInterrupted }

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

type runCmd struct {
	Config            string   `arg:"" optional:"" name:"config" help:"The experiment's YAML config."`
	Out               string   `short:"o" placeholder:"DIR" help:"Run directory (default: runs/<name>, or runs/<name>.2, .3, … when that holds a run)."`
	Overwrite         bool     `help:"Replace the run in --out (only the files lwca writes)."`
	Set               []string `short:"s" sep:"none" placeholder:"PATH=VALUE" help:"Override a config field by its dotted path, e.g. optim.lr=0.05; repeatable."`
	Resume            string   `short:"r" placeholder:"RUN_DIR" help:"Continue an interrupted run with its own config.yaml."`
	AllowConfigChange bool     `help:"With --resume: accept a config.yaml edited since the checkpoint."`
}

func (c *runCmd) Help() string {
	return `Ctrl-C (or SIGTERM) finishes the current step, writes a checkpoint and exits with status 3;
--resume RUN_DIR continues it (from step 0 if it ended before its first checkpoint). A second
Ctrl-C stops at once. A run directory is locked while a process works in it.`
}

func (c *runCmd) Run(g *globals) error {
	if c.Resume == "" && c.AllowConfigChange {
		return usageError{msg: "--allow-config-change goes with --resume RUN_DIR"}
	}
	if c.Resume != "" && (c.Config != "" || len(c.Set) != 0 || c.Out != "") {
		return usageError{msg: "--resume RUN_DIR takes no CONFIG, --set or --out: the run's own config.yaml is used"}
	}
	if c.Resume == "" && c.Config == "" {
		return usageError{msg: "run takes a CONFIG file, or --resume RUN_DIR"}
	}
	info, err := g.setupBackend()
	if err != nil {
		return err
	}
	opts := experiments.Options{Progress: g.progress(), Verbose: g.Verbose}
	ctx, stop := signalContext()
	defer stop()
	var sum *experiments.Summary
	out := c.Resume
	if out != "" {
		opts.AllowConfigChange = c.AllowConfigChange
		if cfg, err := config.Load(filepath.Join(out, experiments.ConfigFile), nil); err == nil {
			if info, err = g.runThreads(cfg, info); err != nil {
				return err
			}
		}
		opts.Backend = backendRecord(info)
		fmt.Fprintf(g.info(), "lwca: resuming %s (%s)\n", out, info)
		g.backendDetails(info)
		if sum, err = experiments.Resume(ctx, out, opts); err != nil {
			return err
		}
	} else {
		cfg, err := config.Load(c.Config, c.Set)
		if err != nil {
			return err
		}
		out = c.Out
		switch {
		case out == "":
			// The config validated the name; ChildDir keeps runs/ the parent whatever it is.
			dir, err := experiments.ChildDir("runs", cfg.Name)
			if err != nil {
				return err
			}
			out = freeRunDir(dir)
		case holdsRun(out) && !c.Overwrite:
			return fmt.Errorf("%s already holds a run; choose another --out, add --overwrite, or continue it with --resume", out)
		}
		if info, err = g.runThreads(cfg, info); err != nil {
			return err
		}
		opts.Backend = backendRecord(info)
		fmt.Fprintf(g.info(), "lwca: running %s into %s (%s)\n", cfg.Name, out, info)
		g.backendDetails(info)
		if sum, err = experiments.Run(ctx, cfg, out, opts); err != nil {
			return err
		}
	}
	fmt.Fprintf(g.stdout, "%s: %s after %d steps, test accuracy %.4f (best %.4f), %.1fs; results in %s\n",
		sum.Name, sum.Status, sum.Steps, float64(sum.Final.TestAccuracy), float64(sum.BestTest), sum.WallSeconds, out)
	if sum.Status == experiments.StatusStopped {
		return errInterrupted
	}
	return nil
}

type analyzeCmd struct {
	RunDir    string `arg:"" name:"run-dir" help:"The run directory."`
	Step      *int   `placeholder:"S" help:"Saved step to analyse (default: the latest)."`
	BatchSize *int   `placeholder:"N" help:"Samples in the analysis batch (default: the run's analysis.batch_size)."`
	Out       string `short:"o" placeholder:"DIR" help:"Output directory (default: RUN_DIR/analysis/step_<S>)."`
}

func (c *analyzeCmd) Help() string {
	return `analyze runs the conditioning analysis on a model state that a run saved
(analysis.save_weights_every), on a fixed, seeded batch of N training samples.`
}

func (c *analyzeCmd) Run(g *globals) error {
	o := experiments.AnalyzeOptions{Step: -1, Out: c.Out}
	if g.Verbose {
		o.Progress = g.stderr
	}
	for name, v := range map[string]*int{"step": c.Step, "batch-size": c.BatchSize} {
		if v != nil && *v < 0 {
			return usageError{msg: fmt.Sprintf("--%s %d: expected a whole number ≥ 0", name, *v)}
		}
	}
	if c.Step != nil {
		o.Step = *c.Step
	}
	if c.BatchSize != nil {
		o.BatchSize = *c.BatchSize
	}
	info, err := g.setupBackend()
	if err != nil {
		return err
	}
	g.backendDetails(info)
	ctx, stop := signalContext()
	defer stop()
	out, err := experiments.Analyze(ctx, c.RunDir, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "analysis written to %s\n", out)
	return nil
}

type versionCmd struct{}

func (versionCmd) Run(g *globals) error {
	info, err := g.setupBackend()
	fmt.Fprintln(g.stdout, versionString())
	fmt.Fprintf(g.stdout, "backend: %s\n", info)
	g.backendDetails(info)
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
