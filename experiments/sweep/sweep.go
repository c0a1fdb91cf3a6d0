// Package sweep expands a config with a top-level sweep: mapping into the runs of a cartesian
// product, runs them side by side in one directory, or runs them on Slurm as a job array:
// Submit sends it with sbatch, Status and Follow tell each task's state (squeue, sacct and
// the run directories), WriteSlurm writes it for users who submit it themselves.
//
// A sweep maps dotted config paths to lists of values; every combination is one run:
//
//	name: lr_study
//	data: {dataset: mnist}
//	sweep:
//	  model.norm: [none, batchnorm]
//	  optim.lr: [0.01, 0.1, 1.0]
//	  seed: [1, 2]
//
// gives 12 runs named norm=none,lr=0.01,seed=1 … norm=batchnorm,lr=1.0,seed=2, each the rest
// of the file with "--set"-style overrides (model.norm=none, optim.lr=0.01, seed=1).
//
//	sw, err := sweep.Load("configs/lr_study.yaml", nil)
//	if err != nil {
//		log.Fatal(err) // YAML or sweep: problems, with file and line
//	}
//	results, err := sw.Execute(ctx, "runs/lr_study", sweep.Options{Workers: 2})
//
// The sweep directory holds manifest.json (every run's directory and overrides), configs/
// (each run's resolved config, which "lwca run" repeats) and one run directory per run, so
// that "lwca compare runs/lr_study" reads it as it is; on Slurm also sweep.slurm, slurm.json
// (the jobs submitted) and logs/.
//
//	sub, err := sw.Submit(ctx, "runs/lr_study", sweep.SubmitOptions{SlurmOptions: sweep.SlurmOptions{Parallel: 8}})
//	tasks, err := sweep.Follow(ctx, "runs/lr_study", sweep.FollowOptions{Progress: os.Stderr})
package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/flatyaml"
	"github.com/lwca/lwca/yamldoc"
	"gopkg.in/yaml.v3"
)

// Key is the top-level key that holds a sweep.
const Key = "sweep"

// Sweep is a config file's sweep, expanded into runs.
type Sweep struct {
	File string // the config file, as named in error messages
	Name string // the config's name: its name key (or --set name=…), or the file's base name
	Axes []Axis
	Runs []Run

	base []byte // the file with the sweep block blanked out, lines kept
}

// Axis is one entry of the sweep mapping.
type Axis struct {
	Path   string   // dotted config path, e.g. "optim.lr"
	Short  string   // the name used in run names: the last path element unless ambiguous
	Line   int      // line of the key in File
	Values []string // each value as one-line YAML, as after "--set path="
	Lines  []int    // line of each value in File
	labels []string // each value as it appears in run names
}

// Run is one combination of the sweep's values.
type Run struct {
	Index int
	// Name names the run's directory: "short=value" pairs joined by commas, made safe for
	// file names and unique.
	Name string
	// Overrides set the run's values, in axis order, in the form config.Parse takes.
	Overrides []string
	// Config is the run's resolved config; its name is "<sweep name>/<run name>" unless the
	// sweep sets name itself.
	Config config.Config
	// Err holds the problems of a combination that gives an invalid config, positioned at
	// the offending sweep value's line where the value is to blame; Config is then zero.
	Err error
}

// Load reads the sweep config at path; see Parse.
func Load(path string, overrides []string) (*Sweep, error) {
	src, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src, overrides)
}

// Parse expands the sweep in src, a config file named name. overrides ("a.b=value") apply to
// every run before the sweep's own values, so a swept path takes the sweep's value.
//
// Problems with the sweep mapping itself (not a mapping, a value that is not a non-empty
// list, a repeated path) are errors naming the file and line. A combination whose config is
// invalid keeps its problems in Run.Err and leaves the other runs usable; if every run is
// invalid (a bad base config, an unknown path) Parse returns the first run's problems.
func Parse(name string, src []byte, overrides []string) (*Sweep, error) {
	if name == "" {
		name = "<input>"
	}
	s := &Sweep{File: name}
	root, err := yamldoc.Parse(name, src)
	if err != nil {
		return nil, yamlError(name, err)
	}
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: a sweep config must be a mapping with a %s: key", name, Key)
	}
	at := -1
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i]; k.Kind == yaml.ScalarNode && k.Value == Key {
			if at >= 0 {
				return nil, fmt.Errorf("%s:%d: %s: duplicate key; first given at line %d", name, k.Line, Key, root.Content[at].Line)
			}
			at = i
		}
	}
	if at < 0 {
		return nil, fmt.Errorf("%s: no %s: mapping; a config without one is run with lwca run", name, Key)
	}
	if err := s.readAxes(root.Content[at], root.Content[at+1]); err != nil {
		return nil, err
	}
	if s.base, err = blank(src, root, at); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.Name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	namePos := name
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k, v := root.Content[i], root.Content[i+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
			s.Name, namePos = v.Value, name+":"+strconv.Itoa(k.Line)
		}
	}
	for _, o := range overrides { // --set name=… names the sweep
		if k, v, ok := strings.Cut(o, "="); ok && strings.TrimSpace(k) == "name" {
			var n string
			if yaml.Unmarshal([]byte(v), &n) == nil && n != "" {
				s.Name, namePos = n, "--set "+o
			}
		}
	}
	// The sweep directory is runs/<name>: the same rule as a run's name.
	if msg := config.NameProblem(s.Name); msg != "" {
		return nil, fmt.Errorf("%s: name: %s", namePos, msg)
	}
	s.expand(overrides)
	for _, r := range s.Runs {
		if r.Err == nil {
			return s, nil
		}
	}
	return nil, s.Runs[0].Err
}

func (s *Sweep) readAxes(key, m *yaml.Node) error {
	pos := func(n *yaml.Node) string { return s.File + ":" + strconv.Itoa(n.Line) }
	if m.Kind != yaml.MappingNode || len(m.Content) == 0 {
		return fmt.Errorf("%s: %s: expected a mapping of config paths to lists of values, such as {optim.lr: [0.01, 0.1]}", pos(key), Key)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return fmt.Errorf("%s: %s: keys must be dotted config paths such as optim.lr", pos(k), Key)
		}
		path := k.Value
		if path == Key {
			return fmt.Errorf("%s: %s.%s: a sweep cannot sweep itself", pos(k), Key, path)
		}
		if line, dup := seen[path]; dup {
			return fmt.Errorf("%s: %s.%s: duplicate path; first given at line %d", pos(k), Key, path, line)
		}
		seen[path] = k.Line
		for v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			return fmt.Errorf("%s: %s.%s: expected a non-empty list of values, such as [0.01, 0.1]", pos(k), Key, path)
		}
		ax := Axis{Path: path, Line: k.Line}
		for _, e := range v.Content {
			text, err := flatyaml.Flow(e)
			if err != nil {
				return fmt.Errorf("%s: %s.%s: %v", pos(e), Key, path, err)
			}
			label := text
			if e.Kind == yaml.ScalarNode {
				label = e.Value
			}
			ax.Values = append(ax.Values, text)
			ax.Lines = append(ax.Lines, e.Line)
			ax.labels = append(ax.labels, label)
		}
		s.Axes = append(s.Axes, ax)
	}
	last := func(p string) string { return p[strings.LastIndexByte(p, '.')+1:] }
	count := map[string]int{}
	for _, a := range s.Axes {
		count[last(a.Path)]++
	}
	for i := range s.Axes {
		s.Axes[i].Short = last(s.Axes[i].Path)
		if count[s.Axes[i].Short] > 1 {
			s.Axes[i].Short = s.Axes[i].Path
		}
	}
	return nil
}

// blank returns src with the lines of the root key at index at (and its value) replaced by
// empty lines, so that the rest keeps its line numbers for error messages. A root written in
// flow style cannot be cut by lines; it is re-encoded without the key instead.
func blank(src []byte, root *yaml.Node, at int) ([]byte, error) {
	if root.Style&yaml.FlowStyle == 0 {
		from := root.Content[at].Line
		to := -1 // through the end of the file
		if at+2 < len(root.Content) {
			to = root.Content[at+2].Line - 1 // the next key's comments go too; they do not matter
		}
		lines := bytes.SplitAfter(src, []byte("\n"))
		for i := range lines {
			if n := i + 1; n >= from && (to < 0 || n <= to) {
				nl := bytes.HasSuffix(lines[i], []byte("\n"))
				lines[i] = nil
				if nl {
					lines[i] = []byte("\n")
				}
			}
		}
		out := bytes.Join(lines, nil)
		if check(out, root, at) {
			return out, nil
		}
	}
	c := *root
	c.Content = append(append([]*yaml.Node(nil), root.Content[:at]...), root.Content[at+2:]...)
	out, err := yaml.Marshal(&c)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// check reports whether out parses to root's keys without the one at index at.
func check(out []byte, root *yaml.Node, at int) bool {
	var doc yaml.Node
	if yaml.Unmarshal(out, &doc) != nil {
		return false
	}
	var want []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		if i != at {
			want = append(want, root.Content[i].Value)
		}
	}
	if len(doc.Content) == 0 {
		return len(want) == 0
	}
	r := doc.Content[0]
	if r.Kind != yaml.MappingNode || len(r.Content) != 2*len(want) {
		return false
	}
	for i, k := range want {
		if r.Content[2*i].Value != k {
			return false
		}
	}
	return true
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._+-]+`)

// maxNameLen keeps run directory names well inside file-system limits.
const maxNameLen = 160

// expand fills s.Runs with the cartesian product of the axes, the last axis varying fastest.
func (s *Sweep) expand(base []string) {
	n := 1
	for _, a := range s.Axes {
		n *= len(a.Values)
	}
	sweepsName := false
	for _, a := range s.Axes {
		sweepsName = sweepsName || a.Path == "name"
	}
	used := map[string]int{}
	idx := make([]int, len(s.Axes))
	for i := range n {
		var parts, ovs []string
		for k, a := range s.Axes {
			v := strings.Trim(unsafeChars.ReplaceAllString(a.labels[idx[k]], "_"), "_")
			if v == "" {
				v = "_"
			}
			parts = append(parts, a.Short+"="+v)
			ovs = append(ovs, a.Path+"="+a.Values[idx[k]])
		}
		name := strings.Join(parts, ",")
		if len(name) > maxNameLen {
			name = name[:maxNameLen]
		}
		if used[name]++; used[name] > 1 {
			name += "-" + strconv.Itoa(used[name])
		}
		r := Run{Index: i, Name: name, Overrides: ovs}
		all := append(append([]string(nil), base...), ovs...)
		if !sweepsName { // a run's name is one path element like any other: <sweep>:<run>
			full := s.Name + ":" + name
			if config.NameProblem(full) != "" {
				full = name // too long together
			}
			all = append(all, "name="+yamlString(full))
		}
		cfg, err := config.Parse(s.File, s.base, all)
		if err != nil {
			r.Err = s.position(err, idx)
		} else {
			r.Config = cfg
		}
		s.Runs = append(s.Runs, r)
		for k := len(idx) - 1; k >= 0; k-- { // advance the odometer
			if idx[k]++; idx[k] < len(s.Axes[k].Values) {
				break
			}
			idx[k] = 0
		}
	}
}

// position rewrites the problems that come from a sweep value's override to point at the
// value's line in the file.
func (s *Sweep) position(err error, idx []int) error {
	var ce *config.Error
	if !errors.As(err, &ce) {
		return err
	}
	out := &config.Error{File: ce.File, Problems: append([]config.Problem(nil), ce.Problems...)}
	for i, p := range out.Problems {
		for k, a := range s.Axes {
			if p.Pos == "--set "+a.Path+"="+a.Values[idx[k]] {
				out.Problems[i].Pos = s.File + ":" + strconv.Itoa(a.Lines[idx[k]])
				out.Problems[i].Msg += " (" + Key + " value " + a.Values[idx[k]] + ")"
			}
		}
	}
	return out
}

func yamlString(v string) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return strconv.Quote(v)
	}
	return strings.TrimSpace(string(b))
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlError(file string, err error) error {
	if _, ok := errors.AsType[*yamldoc.Error](err); ok {
		return err // it names the file and line
	}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s:%s: invalid YAML: %s", file, m[1], m[2])
	}
	return fmt.Errorf("%s: invalid YAML: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
}
