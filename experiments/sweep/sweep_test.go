package sweep

import (
	"errors"
	"fmt"
	"github.com/lwca/lwca/optim"
	"slices"
	"strings"
	"testing"

	"github.com/lwca/lwca/experiments/config"
)

const base = `name: study
seed: 1
data:
  dataset: synthetic
  batch_size: 16
  synthetic: {classes: 3, dim: 8, train: 96, test: 40}
model: {depth: 2, width: 8}
sweep:
  model.norm: [none, batchnorm]
  optim.lr:
    - 0.01
    - 0.1
    - 1.0
  seed: [1, 2]
train:
  epochs: 1
analysis: {every: 2, p: [0.5, 1]}
`

func TestParseExpandsTheCartesianProduct(t *testing.T) {
	s, err := Parse("study.yaml", []byte(base), []string{"train.epochs=3"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "study" || len(s.Axes) != 3 || len(s.Runs) != 12 {
		t.Fatalf("name %q, %d axes, %d runs; want study, 3, 12", s.Name, len(s.Axes), len(s.Runs))
	}
	i := 0
	for _, norm := range []string{"none", "batchnorm"} { // the last axis varies fastest
		for _, lr := range []string{"0.01", "0.1", "1.0"} {
			for _, seed := range []string{"1", "2"} {
				r := s.Runs[i]
				name := fmt.Sprintf("norm=%s,lr=%s,seed=%s", norm, lr, seed)
				ovs := []string{"model.norm=" + norm, "optim.lr=" + lr, "seed=" + seed}
				if r.Index != i || r.Name != name || !slices.Equal(r.Overrides, ovs) || r.Err != nil {
					t.Errorf("run %d: %q %v %v; want %q %v", i, r.Name, r.Overrides, r.Err, name, ovs)
				}
				c := r.Config
				if c.Model.Norm != norm || fmt.Sprint(c.Optim.LR) != strings.TrimSuffix(lr, ".0") ||
					fmt.Sprint(c.Seed) != seed || c.Train.Epochs != 3 || c.Name != "study:"+name || c.Model.Width != 8 {
					t.Errorf("run %s config: norm %s lr %v seed %d epochs %d name %q", name, c.Model.Norm, c.Optim.LR, c.Seed, c.Train.Epochs, c.Name)
				}
				i++
			}
		}
	}
	if a := s.Axes[1]; a.Path != "optim.lr" || a.Short != "lr" || a.Line != 10 || !slices.Equal(a.Lines, []int{11, 12, 13}) {
		t.Errorf("axis %+v", a)
	}
	// --set name=… renames the sweep and its runs.
	s, err = Parse("study.yaml", []byte(base), []string{"name=other"})
	if err != nil || s.Name != "other" || s.Runs[0].Config.Name != "other:norm=none,lr=0.01,seed=1" {
		t.Errorf("renamed: %v, %q", err, s.Name)
	}
	// A swept path wins over an override of the same path.
	s, err = Parse("study.yaml", []byte(base), []string{"optim.lr=5"})
	if err != nil || s.Runs[0].Config.Optim.LR != 0.01 {
		t.Errorf("override of a swept path: %v, lr %v", err, s.Runs[0].Config.Optim.LR)
	}
}

func TestRunNames(t *testing.T) {
	src := `data: {dataset: synthetic}
sweep:
  data.batch_size: [8, 16]
  analysis.batch_size: [64]
  analysis.p: [[0.5, 1], 0.2]
  data.path: ["", "/tmp"]
`
	s, err := Parse("names.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range s.Runs {
		names = append(names, r.Name)
	}
	want := []string{
		"data.batch_size=8,analysis.batch_size=64,p=0.5_1,path=_",
		"data.batch_size=8,analysis.batch_size=64,p=0.5_1,path=tmp",
		"data.batch_size=8,analysis.batch_size=64,p=0.2,path=_",
		"data.batch_size=8,analysis.batch_size=64,p=0.2,path=tmp",
	}
	if !slices.Equal(names[:4], want) || len(names) != 8 {
		t.Errorf("names %q, want first %q", names, want)
	}
	if ov := s.Runs[0].Overrides[2]; ov != "analysis.p=[0.5, 1]" {
		t.Errorf("list override %q", ov)
	}
	if ov := s.Runs[0].Overrides[3]; ov != `data.path=""` {
		t.Errorf("empty string override %q", ov)
	}
	if r := s.Runs[0]; r.Err != nil || !slices.Equal(r.Config.Analysis.P, []float64{0.5, 1}) || s.Name != "names" {
		t.Errorf("run 0: %v, p %v, sweep name %q", r.Err, r.Config.Analysis.P, s.Name)
	}
	// /tmp exists, so only the empty path is fine either way; names stay unique.
	s, err = Parse("dup.yaml", []byte("data: {dataset: synthetic}\nsweep:\n  name: [a/b, a_b, a b]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	names = nil
	for _, r := range s.Runs {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"name=a_b", "name=a_b-2", "name=a_b-3"}) || s.Runs[1].Config.Name != "a_b" {
		t.Errorf("sanitised names %q, config name %q", names, s.Runs[1].Config.Name)
	}
	// A swept name is a run name like any other: one path element.
	if err := s.Runs[0].Err; err == nil || !strings.Contains(err.Error(), "dup.yaml:3: name:") {
		t.Errorf("swept name a/b: %v, want a problem at dup.yaml:3", err)
	}
	// The sweep's own name makes its directory, runs/<name>.
	for _, set := range []string{"name=..", "name=../x"} {
		if _, err := Parse("dup.yaml", []byte("data: {dataset: synthetic}\nsweep:\n  seed: [1]\n"), []string{set}); err == nil ||
			!strings.Contains(err.Error(), "--set "+set+": name:") {
			t.Errorf("sweep with --set %s: %v, want a name problem", set, err)
		}
	}
}

func TestErrorsNameFileAndLine(t *testing.T) {
	// A bad value fails its own runs only, at the value's line.
	src := strings.Replace(base, "    - 1.0\n", "    - -1\n", 1)
	s, err := Parse("study.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, r := range s.Runs {
		if r.Err == nil {
			continue
		}
		bad++
		if !strings.Contains(r.Name, "lr=-1") || !strings.Contains(r.Err.Error(), "study.yaml:13: optim.lr:") {
			t.Errorf("run %s: %v", r.Name, r.Err)
		}
	}
	if bad != 4 {
		t.Errorf("%d runs failed, want the 4 with lr -1", bad)
	}
	// Line numbers after the blanked sweep block are those of the file.
	_, err = Parse("study.yaml", []byte(strings.Replace(base, "  epochs: 1", "  epochs: -1", 1)), nil)
	if err == nil || !strings.Contains(err.Error(), "study.yaml:16: train.epochs:") {
		t.Errorf("base error: %v; want it at line 16", err)
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Errorf("base error is %T, want *config.Error", err)
	}
	for _, c := range []struct{ name, src, want string }{
		{"unknown path", "data: {dataset: synthetic}\nsweep:\n  optim.lx: [1]\n", "x.yaml:3: optim.lx: unknown key"},
		{"no sweep", "data: {dataset: synthetic}\n", "x.yaml: no sweep: mapping"},
		{"not a mapping", "data: {dataset: synthetic}\nsweep: [1, 2]\n", "x.yaml:2: sweep: expected a mapping"},
		{"scalar value", "data: {dataset: synthetic}\nsweep:\n  seed: 3\n", "x.yaml:3: sweep.seed: expected a non-empty list"},
		{"empty list", "data: {dataset: synthetic}\nsweep:\n  seed: []\n", "x.yaml:3: sweep.seed: expected a non-empty list"},
		{"duplicate", "data: {dataset: synthetic}\nsweep:\n  seed: [1]\n  seed: [2]\n", "x.yaml:4: sweep.seed: duplicate path; first given at line 3"},
		{"syntax", "data: {dataset: synthetic\nsweep:\n  seed: [1]\n", "x.yaml:"},
		{"top level list", "- 1\n", "must be a mapping"},
	} {
		_, err := Parse("x.yaml", []byte(c.src), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want %q", c.name, err, c.want)
		}
	}
}

func TestFlowStyleRoot(t *testing.T) {
	s, err := Parse("f.yaml", []byte("{data: {dataset: synthetic}, sweep: {seed: [4, 5]}, model: {depth: 2}}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Runs) != 2 || s.Runs[1].Config.Seed != 5 || s.Runs[1].Config.Model.Depth != 2 {
		t.Errorf("runs %+v", s.Runs)
	}
}

func TestMNISTSweepConfig(t *testing.T) {
	s, err := Load("../../configs/mnist_bn_vs_plain_lr.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Runs) != 2*5*2 {
		t.Fatalf("%d runs, want 20", len(s.Runs))
	}
	lrs := map[float64]int{}
	norms := map[string]int{}
	for _, r := range s.Runs {
		if r.Err != nil {
			t.Fatalf("run %s: %v", r.Name, r.Err)
		}
		c := r.Config
		lrs[c.Optim.LR]++
		norms[c.Model.Norm]++
		if c.Data.Dataset != "mnist" || c.Train.Epochs != 2 || c.Analysis.Every != 50 || c.Model.Depth != 4 {
			t.Errorf("run %s: dataset %s, epochs %d, analysis every %d", r.Name, c.Data.Dataset, c.Train.Epochs, c.Analysis.Every)
		}
	}
	if len(lrs) != 5 || norms["none"] != 10 || norms["batchnorm"] != 10 {
		t.Errorf("learning rates %v, norms %v", lrs, norms)
	}
	if s.Runs[0].Name != "norm=none,lr=0.01,seed=1" {
		t.Errorf("first run %q", s.Runs[0].Name)
	}
}

// The SGD-vs-Adam sweep varies the whole optim section: each run gets its optimiser's own
// options, and the SGD runs keep their heavy-ball momentum.
func TestSGDVsAdamSweepConfig(t *testing.T) {
	s, err := Load("../../configs/mnist_sgd_vs_adam.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Runs) != 2*2*2 {
		t.Fatalf("%d runs, want 8", len(s.Runs))
	}
	types := map[string]int{}
	for _, r := range s.Runs {
		if r.Err != nil {
			t.Fatalf("run %s: %v", r.Name, r.Err)
		}
		o := r.Config.Optim
		types[o.Type]++
		switch o.Type {
		case "sgd":
			if s, ok := o.Options.(*optim.SGDOptions); !ok || o.LR != 0.1 || s.Momentum != 0.9 {
				t.Errorf("run %s: sgd lr %v options %+v", r.Name, o.LR, o.Options)
			}
		case "adam":
			if a, ok := o.Options.(*optim.AdamOptions); !ok || o.LR != 0.001 || a.Beta2 != 0.999 {
				t.Errorf("run %s: adam lr %v options %+v", r.Name, o.LR, o.Options)
			}
		}
	}
	if types["sgd"] != 4 || types["adam"] != 4 {
		t.Errorf("optimisers %v", types)
	}
}

// aliasBomb returns ten levels of nested aliases, ten copies each, as one flow list:
// 10^10 scalars once expanded.
func aliasBomb() string {
	s := "[0.1, &a0 [x, x, x, x, x, x, x, x, x, x]"
	for i := 1; i < 10; i++ {
		s += fmt.Sprintf(", &a%d [%s]", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	return s + "]"
}

func TestAliasBombRefused(t *testing.T) {
	// Expanding the axis values used to copy every alias: memory ran out.
	src := "data: {dataset: synthetic}\nsweep:\n  optim.lr: " + aliasBomb() + "\n"
	_, err := Parse("bomb.yaml", []byte(src), nil)
	if err == nil || !strings.Contains(err.Error(), "bomb.yaml:3: the alias *a3") {
		t.Fatalf("got %v, want the alias refused at bomb.yaml:3", err)
	}
}
