package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// parser is the command line's parser, for tests that look at its definitions.
func parser(t *testing.T) *kong.Kong {
	t.Helper()
	k, err := newParser(&commands{}, &bytes.Buffer{}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// synopsis is one usage line per command, in the form of README.md's command reference:
// the positional arguments, then every flag with its short form and value; lines are wrapped
// at 100 columns, continued under the command's first argument.
func synopsis(k *kong.Kong) string {
	var b strings.Builder
	for _, n := range k.Model.Leaves(true) {
		words := []string{"lwca " + typedPath(n)}
		for _, p := range n.Positional {
			name := strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))
			if p.IsCumulative() {
				name += "..."
			}
			if !p.Required {
				name = "[" + name + "]"
			}
			words = append(words, name)
		}
		for _, f := range n.Flags {
			words = append(words, flagUsage(f))
		}
		b.WriteString(wrap(words))
	}
	words := []string{"lwca COMMAND ..."}
	for _, f := range k.Model.Flags {
		if f.Name != "help" {
			words = append(words, flagUsage(f))
		}
	}
	b.WriteString(wrap(words))
	return b.String()
}

// nodePath is the command's name as typed, "data get" for instance, without aliases.
func nodePath(n *kong.Node) string {
	var names []string
	for ; n.Parent != nil; n = n.Parent {
		names = append([]string{n.Name}, names...)
	}
	return strings.Join(names, " ")
}

// typedPath is the command as users type it: a default subcommand without its name
// ("sweep" for "sweep run").
func typedPath(n *kong.Node) string {
	if n.Parent != nil && n.Parent.DefaultCmd == n {
		return nodePath(n.Parent)
	}
	return nodePath(n)
}

func wrap(words []string) string {
	indent := strings.Repeat(" ", len(words[0])+1)
	line, out := words[0], ""
	for _, w := range words[1:] {
		if len(line)+1+len(w) > 100 {
			out += line + "\n"
			line = indent + w
			continue
		}
		line += " " + w
	}
	return out + line + "\n"
}

func flagUsage(f *kong.Flag) string {
	s := "--" + f.Name
	if f.Short != 0 {
		s = "-" + string(f.Short) + "|" + s
	}
	if !f.IsBool() {
		s += " " + f.FormatPlaceHolder()
	}
	if f.IsCumulative() && f.Tag.Sep == -1 { // repeated, not a comma-separated list
		s += " ..."
	}
	return "[" + s + "]"
}

// readmeBlock returns the README's generated command reference, between its markers.
func readmeBlock(t *testing.T) (string, string) {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	const begin, end = "<!-- begin lwca usage: checked by cli/cli_test.go -->\n```sh\n", "```\n<!-- end lwca usage -->"
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the command reference between %q and %q", begin, end)
	}
	return readme[i+len(begin) : j], readme
}

// The README's command reference lists exactly the commands and flags the command line
// defines, in the form of their usage lines; and every "lwca CMD ... --flag" elsewhere in the
// README names a flag that CMD takes.
func TestREADMECommandReference(t *testing.T) {
	k := parser(t)
	want := synopsis(k)
	got, readme := readmeBlock(t)
	if got != want {
		t.Errorf("README.md's command reference differs from the command line; it should read:\n%s", want)
	}
	flags := map[string]map[string]bool{} // command → its flags, the global ones included
	for _, n := range k.Model.Leaves(true) {
		flags[typedPath(n)] = map[string]bool{}
		for _, group := range n.AllFlags(true) {
			for _, f := range group {
				flags[typedPath(n)]["--"+f.Name] = true
			}
		}
	}
	mention := regexp.MustCompile("lwca (data [a-z]+|sweep status|[a-z]+)\\b([^`\n]*)")
	flag := regexp.MustCompile(`(?:^|[\s\[|])(--[a-z][a-z-]*)`)
	for _, m := range mention.FindAllStringSubmatch(readme, -1) {
		cmd, rest := m[1], m[2]
		if cmd == "analyse" {
			cmd = "analyze"
		}
		known, ok := flags[cmd]
		if !ok {
			continue // prose: "lwca trains networks …"
		}
		// A mention ends where the next command begins, as in "lwca sweep …, then lwca compare".
		rest, _, _ = strings.Cut(rest, "lwca ")
		for _, f := range flag.FindAllStringSubmatch(rest, -1) {
			if !known[f[1]] {
				t.Errorf("README.md: %q: lwca %s has no flag %s", m[0], cmd, f[1])
			}
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"run", "--help"}, {"run", "-h"}, {"help", "run"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Errorf("%q: exit %d, stderr %s", args, code, stderr.String())
		}
		for _, want := range []string{"Usage: lwca run", "-o, --out=DIR", "--overwrite", "-s, --set=PATH=VALUE", "--resume=RUN_DIR",
			"--allow-config-change", "--backend=", "--threads=N", "--quiet", "--verbose"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%q: help lacks %q:\n%s", args, want, stdout.String())
			}
		}
	}
	// Every command has help, from its definition.
	for _, n := range parser(t).Model.Leaves(true) {
		var stdout bytes.Buffer
		args := append(strings.Fields(nodePath(n)), "--help")
		if code := run(args, &stdout, &bytes.Buffer{}); code != 0 || !strings.Contains(stdout.String(), "Usage: lwca "+nodePath(n)) || n.Help == "" {
			t.Errorf("%q: exit %d, help %q:\n%s", args, code, n.Help, stdout.String())
		}
	}
	// With no command, the overview goes to stderr and the status is a usage error's.
	var stdout, stderr bytes.Buffer
	if code := run(nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "Commands:") || stdout.Len() != 0 {
		t.Errorf("no arguments: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

// Mistyped commands and flags are refused with a usage error that names them and suggests
// what was meant.
func TestSuggestions(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"comapre", "runs/x"}, []string{"comapre", `did you mean "compare"`}},
		{[]string{"help", "sweeep"}, []string{"sweeep", `did you mean "sweep"`}},
		{[]string{"run", "x.yaml", "--outt", "d"}, []string{"--outt", `did you mean "--out"`, "lwca run --help"}},
		{[]string{"sweep", "x.yaml", "--worker", "2"}, []string{"--worker", `did you mean "--workers"`}},
		{[]string{"compare", "d", "--thread", "1"}, []string{"--thread", `did you mean`, `"--threads"`}},
	} {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2", c.args, code)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%q: stderr %q lacks %q", c.args, stderr.String(), w)
			}
		}
	}
}

// The global flags are defined once and every command takes them, in either GNU form.
func TestGlobalFlags(t *testing.T) {
	for _, n := range parser(t).Model.Leaves(true) {
		args := strings.Fields(nodePath(n))
		for _, p := range n.Positional {
			if p.Name == "shell" {
				args = append(args, "bash")
			} else if p.Required {
				args = append(args, "x")
			}
		}
		for _, global := range [][]string{{"--threads", "1", "--backend", "gonum", "-q"}, {"--threads=2", "--backend=auto", "--verbose"}} {
			cmds := &commands{}
			k, err := newParser(cmds, &bytes.Buffer{}, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.Parse(append(slices.Clone(args), global...)); err != nil {
				t.Errorf("%q: %v", append(args, global...), err)
			}
			if cmds.Threads == nil || *cmds.Threads == 0 || cmds.Backend == "" || cmds.Quiet == cmds.Verbose {
				t.Errorf("%q: globals %+v", append(args, global...), cmds.globals)
			}
		}
	}
	var stderr bytes.Buffer
	if code := run([]string{"run", "x.yaml", "-q", "-v"}, &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("--quiet with --verbose: exit %d, %s", code, stderr.String())
	}
}

// -o, -s and --flag=value work for run; compare takes --threads; --quiet leaves the result
// line alone.
func TestRunShortFlagsAndQuiet(t *testing.T) {
	cfg := writeConfig(t, tinyRun)
	dir := filepath.Join(t.TempDir(), "run")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"run", cfg, "-o", dir, "-s", "train.steps=4", "--set=analysis.every=2", "--backend=gonum", "-q"}, &stdout, &stderr); code != 0 {
		t.Fatalf("run: exit %d, %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "summary.json")); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(stdout.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "completed after 4 steps") {
		t.Errorf("quiet run: stdout %q, want the one result line", stdout.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("quiet run: stderr %q, want nothing", stderr.String())
	}

	stdout.Reset()
	cmp := filepath.Join(t.TempDir(), "cmp")
	if code := run([]string{"compare", "--threads", "1", dir, "--out", cmp, "--quiet"}, &stdout, &stderr); code != 0 {
		t.Fatalf("compare --threads 1: exit %d, %s", code, stderr.String())
	}
	if got, want := stdout.String(), "report: "+filepath.Join(cmp, "report.html"); !strings.HasPrefix(got, want) || strings.Count(got, "\n") != 1 {
		t.Errorf("quiet compare: stdout %q, want the one line %q", got, want)
	}

	// --verbose adds the backend's details and a line per analysed layer.
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"run", cfg, "-o", dir, "--overwrite", "-s", "train.steps=2", "-s", "analysis.every=1", "--backend", "gonum", "-v"}, &stdout, &stderr); code != 0 {
		t.Fatalf("verbose run: exit %d, %s", code, stderr.String())
	}
	for _, want := range []string{"lwca: backend gonum, ", "tiny: step 1: analysed fc1 (layer 1 of 3) in "} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("verbose run: stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// The shell asks for completions by running lwca with COMP_LINE set; lwca answers with the
// commands and flags that fit, and does nothing else.
func TestCompletion(t *testing.T) {
	for line, want := range map[string][]string{
		"lwca comp":             {"compare", "completion"},
		"lwca sweep --wor":      {"--workers"},
		"lwca sweep --exe":      {"--executor"},
		"lwca sweep status --w": {"--wait"},
		"lwca data get --d":     {"--dir"},
	} {
		t.Setenv("COMP_LINE", line)
		t.Setenv("COMP_POINT", strconv.Itoa(len(line)))
		var stdout, stderr bytes.Buffer
		code := run(nil, &stdout, &stderr)
		got := strings.Fields(stdout.String())
		slices.Sort(got)
		if code != 0 || !slices.Equal(got, want) {
			t.Errorf("COMP_LINE=%q: exit %d, completions %q, want %q; stderr %s", line, code, got, want, stderr.String())
		}
	}
	t.Setenv("COMP_LINE", "") // the shell is not asking
	var stdout bytes.Buffer
	if code := run([]string{"completion", "bash"}, &stdout, &bytes.Buffer{}); code != 0 || !strings.HasPrefix(stdout.String(), "complete -C ") {
		t.Errorf("completion bash: exit %d, %q", code, stdout.String())
	}
}

// Every command stopped by a signal (a run, a sweep, following Slurm tasks, a reproduction)
// exits with status 3, and says how to continue.
func TestInterruptedExitStatus(t *testing.T) {
	for _, err := range []error{errInterrupted, interrupted("interrupted; the same command continues the study"),
		fmt.Errorf("sweep: %w", interrupted("interrupted with 2 runs unfinished"))} {
		var out strings.Builder
		if got := status(err, &out); got != 3 || !strings.Contains(out.String(), "interrupted") {
			t.Errorf("status(%v) = %d, printed %q; want 3 and the message", err, got, out.String())
		}
	}
	var out strings.Builder
	if got := status(errors.New("disk full"), &out); got != 1 {
		t.Errorf("status of a plain error = %d, want 1", got)
	}
}
