package sweep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/results"
	"github.com/lwca/lwca/rundir"
)

// fake is a RunFunc that writes a run directory's config.yaml and summary.json as a real run
// does, with an outcome chosen by the test, and counts its calls and the runs in flight.
type fake struct {
	outcome  func(cfg config.Config) (status string, err error)
	calls    atomic.Int32
	inflight atomic.Int32
	peak     atomic.Int32
	meet     int // > 0: each call waits (up to a second) until this many are in flight
}

func (f *fake) run(ctx context.Context, cfg config.Config, dir string, opts experiments.Options) (*experiments.Summary, error) {
	f.calls.Add(1)
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	for deadline := time.Now().Add(time.Second); f.meet > 0 && f.inflight.Load() < int32(f.meet) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	if err := results.WriteFile(filepath.Join(dir, experiments.ConfigFile), b); err != nil {
		return nil, err
	}
	status, rerr := experiments.StatusCompleted, error(nil)
	if f.outcome != nil {
		status, rerr = f.outcome(cfg)
	}
	sum := &experiments.Summary{Name: cfg.Name, Status: status, Steps: 10}
	if status == experiments.StatusDiverged {
		s := 3
		sum.DivergedAtStep = &s
	}
	if rerr != nil {
		sum.Error = rerr.Error()
	}
	if err := results.WriteJSON(filepath.Join(dir, experiments.SummaryFile), sum); err != nil {
		return nil, err
	}
	return sum, rerr
}

func statuses(res []Result) map[string]int {
	m := map[string]int{}
	for _, r := range res {
		m[r.Status]++
	}
	return m
}

func TestExecuteIsolatesFailuresAndResumes(t *testing.T) {
	s, err := Parse("study.yaml", []byte(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "study")
	broken := true
	f := &fake{outcome: func(c config.Config) (string, error) {
		switch {
		case c.Optim.LR == 1:
			return experiments.StatusDiverged, nil
		case broken && c.Model.Norm == "batchnorm" && c.Optim.LR == 0.1 && c.Seed == 2:
			return experiments.StatusFailed, errors.New("out of luck")
		}
		return experiments.StatusCompleted, nil
	}}
	var log bytes.Buffer
	res, err := s.Execute(context.Background(), dir, Options{Workers: 2, Run: f.run, Progress: &log})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(res); got[experiments.StatusCompleted] != 7 || got[experiments.StatusDiverged] != 4 || got[experiments.StatusFailed] != 1 {
		t.Errorf("statuses %v, want 7 completed, 4 diverged, 1 failed", got)
	}
	if f.calls.Load() != 12 {
		t.Errorf("%d runs trained, want 12", f.calls.Load())
	}
	failed := slices.IndexFunc(res, func(r Result) bool { return r.Failed() })
	if res[failed].Run.Name != "norm=batchnorm,lr=0.1,seed=2" || res[failed].Err == nil {
		t.Errorf("failed run %+v", res[failed])
	}
	var table bytes.Buffer
	WriteTable(&table, res)
	if lines := strings.Split(strings.TrimSpace(table.String()), "\n"); len(lines) != 13 || !strings.Contains(table.String(), "out of luck") ||
		!strings.Contains(table.String(), "diverged at step 3") {
		t.Errorf("table:\n%s", table.String())
	}

	// The manifest lists every run, its directory, overrides and resolved config.
	var m Manifest
	b, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != "study" || len(m.Runs) != 12 || len(m.Axes) != 3 {
		t.Fatalf("manifest %+v", m)
	}
	for i, e := range m.Runs {
		r := s.Runs[i]
		if e.Name != r.Name || e.Dir != r.Name || !slices.Equal(e.Overrides, r.Overrides) {
			t.Errorf("manifest entry %d: %+v", i, e)
		}
		cfg, err := config.Load(filepath.Join(dir, e.Config), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := cfg.Marshal()
		want, _ := r.Config.Marshal()
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the resolved config does not load back to the run's config", e.Config)
		}
	}

	// Again: finished runs are skipped, the failed one is retried.
	broken = false
	f.calls.Store(0)
	res, err = s.Execute(context.Background(), dir, Options{Workers: 2, Run: f.run})
	if err != nil {
		t.Fatal(err)
	}
	skipped := 0
	for _, r := range res {
		if r.Skipped {
			skipped++
		}
	}
	if f.calls.Load() != 1 || skipped != 11 || statuses(res)[experiments.StatusCompleted] != 8 {
		t.Errorf("resume: %d trained, %d skipped, statuses %v; want 1, 11, 8 completed", f.calls.Load(), skipped, statuses(res))
	}

	// A run of an earlier build, named <sweep>/<run>, is the same run: skipped, not refused.
	cfgPath := filepath.Join(dir, s.Runs[0].Name, experiments.ConfigFile)
	b, _ = os.ReadFile(cfgPath)
	legacy := strings.Replace(string(b), "name: study:", "name: study/", 1)
	if legacy == string(b) {
		t.Fatalf("no sweep name in %s:\n%s", cfgPath, b)
	}
	os.WriteFile(cfgPath, []byte(legacy), 0o644)
	f.calls.Store(0)
	res, _ = s.Execute(context.Background(), dir, Options{Run: f.run})
	if f.calls.Load() != 0 || !res[0].Skipped {
		t.Errorf("legacy name: %d trained, run 0 %+v", f.calls.Load(), res[0])
	}

	// A changed sweep does not silently reuse or replace finished runs of another config.
	s2, err := Parse("study.yaml", []byte(base), []string{"train.epochs=2"})
	if err != nil {
		t.Fatal(err)
	}
	f.calls.Store(0)
	res, _ = s2.Execute(context.Background(), dir, Options{Run: f.run})
	if f.calls.Load() != 0 || statuses(res)[experiments.StatusFailed] != 12 ||
		!strings.Contains(res[0].Err.Error(), `train.epochs: "1" there, "2" now`) {
		t.Errorf("changed config: %d trained, %v, first error %v", f.calls.Load(), statuses(res), res[0].Err)
	}
	res, _ = s2.Execute(context.Background(), dir, Options{Run: f.run, Overwrite: true})
	if f.calls.Load() != 12 || statuses(res)[experiments.StatusFailed] != 0 {
		t.Errorf("overwrite: %d trained, %v", f.calls.Load(), statuses(res))
	}
}

func TestExecuteBoundsWorkers(t *testing.T) {
	s, err := Parse("study.yaml", []byte(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{1, 3} {
		f := &fake{meet: workers}
		if _, err := s.Execute(context.Background(), t.TempDir(), Options{Workers: workers, Run: f.run}); err != nil {
			t.Fatal(err)
		}
		if p := f.peak.Load(); p != int32(workers) {
			t.Errorf("%d workers: %d runs in flight at most", workers, p)
		}
	}
}

func TestExecuteStopsOnCancel(t *testing.T) {
	s, err := Parse("study.yaml", []byte(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fake{outcome: func(config.Config) (string, error) {
		cancel() // as SIGINT would, during the first run
		return experiments.StatusStopped, nil
	}}
	res, err := s.Execute(ctx, t.TempDir(), Options{Run: f.run})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(res); f.calls.Load() != 1 || got[experiments.StatusStopped] != 1 || got[NotStarted] != 11 {
		t.Errorf("%d trained, statuses %v", f.calls.Load(), got)
	}
	for _, r := range res {
		if !r.Failed() {
			t.Errorf("%s (%s) does not count as failed", r.Run.Name, r.Status)
		}
	}
}

const tiny = `name: tiny
data:
  dataset: synthetic
  batch_size: 16
  eval_batch_size: 50
  synthetic: {classes: 3, dim: 8, train: 96, test: 40}
model: {depth: 3, width: 8, norm: none}
optim: {lr: 0.05, momentum: 0.9}
train: {epochs: 2}
analysis: {every: 2, p: [0.5, 1]}
sweep:
  optim.lr: [0.05, 1.0e+30, -1]
  analysis.layers: [[], [nope]]
  seed: [1, 2]
`

// Real runs: one completes, one diverges, a bad value and a bad layer name fail on their own,
// and lwca compare's reader takes the sweep directory as it is.
func TestExecuteRealRunsAndCompare(t *testing.T) {
	s, err := Parse("tiny.yaml", []byte(tiny), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tiny")
	res, err := s.Execute(context.Background(), dir, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		want := experiments.StatusCompleted
		switch {
		case strings.Contains(r.Run.Name, "lr=-1") || strings.Contains(r.Run.Name, "layers=nope"):
			want = experiments.StatusFailed
		case strings.Contains(r.Run.Name, "lr=1.0e+30"):
			want = experiments.StatusDiverged
		}
		if r.Status != want {
			t.Errorf("%s: %s (%v), want %s", r.Run.Name, r.Status, r.Err, want)
		}
	}
	runs, warnings, err := compare.Discover(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 8 || len(warnings) != 4 {
		t.Fatalf("compare found %d runs (want the 8 that started) and %d warnings (want 4): %v", len(runs), len(warnings), warnings)
	}
	for _, w := range warnings {
		if !strings.Contains(w, "invalid config: tiny.yaml:12: optim.lr") {
			t.Errorf("warning %q does not name the bad value", w)
		}
	}
	rep, err := compare.Compare(runs, compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Write(filepath.Join(dir, "compare")); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, g := range rep.Groups {
		sizes = append(sizes, len(g.Runs))
	}
	if !slices.Equal(sizes, []int{2, 2, 2, 2}) {
		t.Errorf("group sizes %v, want four pairs of seeds", sizes)
	}
	// The stored spectra agree with the conditioning records: λ1 is λmax.
	r := runs[0]
	checked := 0
	for _, rec := range r.Records {
		if rec.Factor == rundir.FactorFisher {
			continue
		}
		ev, err := r.Spectra.Spectrum(rec.Step, rec.Layer, rec.Factor)
		if err != nil {
			t.Fatalf("%s %s step %d: %v", rec.Layer, rec.Factor, rec.Step, err)
		}
		if lm := rec.Value("lambda_max"); math.Abs(ev[0]-lm) > 1e-12*math.Max(lm, 1e-300) || len(ev) != int(rec.Value("dim")) {
			t.Errorf("%s %s step %d: spectrum λ1 %v (%d values), record λmax %v (dim %v)", rec.Layer, rec.Factor, rec.Step, ev[0], len(ev), lm, rec.Value("dim"))
		}
		checked++
	}
	if checked == 0 || !slices.ContainsFunc(rep.Figures, func(f *compare.Figure) bool { return f.Name == "spectra_x" }) {
		t.Errorf("%d spectra checked; figures %v", checked, rep.Figures)
	}
}

func TestSlurmScript(t *testing.T) {
	src := strings.Replace(tiny, "[0.05, 1.0e+30, -1]", "[0.05, 0.1]", 1)
	src = strings.Replace(src, "[[], [nope]]", "[[], [fc1]]", 1)
	s, err := Parse("tiny.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "it's here")
	path, err := s.WriteSlurm(dir, SlurmOptions{Parallel: 3, Sbatch: []string{"--partition=cpu", "--mem=2G"}})
	if err != nil {
		t.Fatal(err)
	}
	script, _ := os.ReadFile(path)
	for _, line := range []string{"#SBATCH --array=0-7%3", "#SBATCH --open-mode=append", "#SBATCH --partition=cpu", "#SBATCH --mem=2G"} {
		if !bytes.Contains(script, []byte("\n"+line+"\n")) {
			t.Errorf("script lacks %s:\n%s", line, script)
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run the script with")
	}
	// A stand-in for lwca records its arguments.
	stub := filepath.Join(t.TempDir(), "lwca")
	os.WriteFile(stub, []byte("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$STUB_OUT\"\n"), 0o755)
	abs, _ := filepath.Abs(dir)
	// Task 5's run has finished already: resubmitting must not repeat it.
	done := filepath.Join(abs, s.Runs[5].Name)
	os.MkdirAll(done, 0o755)
	results.WriteJSON(filepath.Join(done, experiments.SummaryFile), experiments.Summary{Status: experiments.StatusCompleted})
	// Task 6's run was stopped (scancel, a time limit): it continues from its checkpoint. Task
	// 7's directory holds an unfinished run of another config: it starts again.
	for i, cfg := range map[int]config.Config{6: s.Runs[6].Config, 7: s.Runs[0].Config} {
		d := filepath.Join(abs, s.Runs[i].Name)
		os.MkdirAll(d, 0o755)
		b, _ := cfg.Marshal()
		results.WriteFile(filepath.Join(d, experiments.ConfigFile), b)
		results.WriteJSON(filepath.Join(d, experiments.SummaryFile), experiments.Summary{Status: experiments.StatusStopped})
	}
	var mu sync.Mutex
	for i, r := range s.Runs {
		out := filepath.Join(t.TempDir(), "args")
		cmd := exec.Command(bash, path)
		cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID="+strconv.Itoa(i), "LWCA="+stub, "STUB_OUT="+out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("task %d: %v\n%s", i, err, b)
		}
		mu.Lock()
		got, err := os.ReadFile(out)
		mu.Unlock()
		if i == 5 {
			if err == nil {
				t.Errorf("task 5 ran lwca for a finished run: %s", got)
			}
			continue
		}
		cfgPath := filepath.Join(abs, ConfigsDir, r.Name+".yaml")
		want := strings.Join([]string{"run", cfgPath, "--out", filepath.Join(abs, r.Name), "--overwrite"}, "\n") + "\n"
		if i == 6 {
			want = strings.Join([]string{"run", "--resume", filepath.Join(abs, r.Name)}, "\n") + "\n"
		}
		if string(got) != want {
			t.Errorf("task %d ran lwca with\n%s\nwant\n%s", i, got, want)
		}
		cfg, err := config.Load(cfgPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := cfg.Marshal()
		b, _ := r.Config.Marshal()
		if !bytes.Equal(a, b) {
			t.Errorf("task %d's config differs from the run's", i)
		}
	}
	// Runs with invalid configs cannot be submitted.
	bad, err := Parse("tiny.yaml", []byte(tiny), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.WriteSlurm(t.TempDir(), SlurmOptions{}); err == nil || !strings.Contains(err.Error(), "tiny.yaml:12: optim.lr") {
		t.Errorf("invalid runs: %v", err)
	}
}
