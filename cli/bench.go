package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lwca/lwca/backend"
	"github.com/lwca/lwca/bench"
	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/experiments/config"
)

type benchCmd struct {
	Only         []string `placeholder:"W" help:"Run only these workloads (analysis_overhead and sharpness_overhead included)."`
	Repeat       int      `default:"1" placeholder:"N" help:"Rounds, each side by side; more than one adds medians."`
	Slow         bool     `help:"Add the slow workloads (4608×4608 eigenvalues, ResNet-20's top Hessian eigenvalue)."`
	NoTorch      bool     `help:"Skip the PyTorch reference."`
	TorchThreads string   `placeholder:"N" help:"PyTorch's threads (default: lwca's)."`
	Python       string   `default:"/usr/bin/python3" placeholder:"PATH" help:"The Python with torch that runs the reference."`
}

// Help explains the rounds: on a shared machine one round's ratio can be far off.
func (c *benchCmd) Help() string {
	return `bench runs lwca's workloads and PyTorch's reference of the same workloads side by side, in
--repeat rounds whose ratios it sums up: on a shared machine one round's ratio can be far off.`
}

func (c *benchCmd) Run(g *globals) error {
	stdout, stderr := g.stdout, g.info()
	rounds := c.Repeat
	if rounds < 1 {
		return usageError{msg: fmt.Sprintf("--repeat %d: expected a whole number ≥ 1", rounds)}
	}
	info, err := g.setupBackend()
	if err != nil {
		return err
	}
	g.backendDetails(info)
	var selected []bench.Workload
	only := map[string]bool{}
	for _, w := range c.Only {
		if w != "" {
			only[w] = true
		}
	}
	known := map[string]bool{}
	for _, w := range overheadWorkloads {
		known[w.name] = true
	}
	for _, w := range bench.Workloads() {
		known[w.Name] = true
		if (len(only) == 0 && (!w.Slow || c.Slow)) || only[w.Name] {
			selected = append(selected, w)
		}
	}
	for w := range only {
		if !known[w] {
			return usageError{msg: fmt.Sprintf("--only: unknown workload %q", w)}
		}
	}
	fmt.Fprintf(stdout, "lwca bench: backend %s; GOMAXPROCS %d\n", info, runtime.GOMAXPROCS(0))

	threads := strconv.Itoa(info.Threads)
	if c.TorchThreads != "" {
		threads = c.TorchThreads
	}
	python := c.Python
	var names []string
	for _, w := range selected {
		names = append(names, w.Name)
	}
	// Each round runs PyTorch first, so the two do not compete for the cores, then lwca.
	ratios, times := map[string][]float64{}, map[string][]float64{}
	for round := 1; round <= rounds; round++ {
		prefix := ""
		if rounds > 1 {
			prefix = fmt.Sprintf("round %d: ", round)
		}
		torch := map[string]float64{}
		if !c.NoTorch {
			if torch, err = runTorch(python, threads, names, stderr); err != nil {
				fmt.Fprintf(stdout, "pytorch reference unavailable: %v (apt-get install python3-torch python3-scipy)\n", err)
			}
		}
		for _, w := range selected {
			if w.ConvNet && g.Threads == nil {
				if _, err := backend.Init(backend.Mode(info.Name), 1); err != nil {
					return err
				}
			}
			r := testing.Benchmark(w.Run)
			if w.ConvNet && g.Threads == nil {
				if _, err := backend.Init(backend.Mode(info.Name), info.Threads); err != nil {
					return err
				}
			}
			ms := float64(r.NsPerOp()) / 1e6
			if m, ok := r.Extra["median-ms"]; ok {
				ms = m // the median step, as PyTorch's reference reports
			}
			times[w.Name] = append(times[w.Name], ms)
			line := fmt.Sprintf("%s%-22s lwca=%9.3f ms", prefix, w.Name, ms)
			if t, ok := torch[w.Name]; ok {
				line += fmt.Sprintf("  pytorch=%9.3f ms  ratio=%.2f", t, ms/t)
				ratios[w.Name] = append(ratios[w.Name], ms/t)
			}
			fmt.Fprintln(stdout, line)
		}
	}
	if rounds > 1 {
		for _, w := range selected {
			fmt.Fprintln(stdout, summaryLine(w.Name, times[w.Name], ratios[w.Name]))
		}
	}
	for _, w := range overheadWorkloads {
		if len(only) > 0 && !only[w.name] {
			continue
		}
		times, threads, err := overheadRuns(g, info, w.src, w.settings, max(rounds, overheadRounds))
		if err != nil {
			return err
		}
		base := w.settings[0].label
		for _, s := range w.settings[1:] {
			ratios := make([]float64, len(times[base]))
			for i, t := range times[s.label] {
				ratios[i] = t / times[base][i]
			}
			fmt.Fprintf(stdout, "%-22s %s: lwca=%7.3f s with %s (%d BLAS threads), %.3f s with %s (%d)  ratio=%.3f (%.3f–%.3f, %d pairs)\n",
				w.name, w.data, compare.Median(times[s.label]), s.label, threads[s.label], compare.Median(times[base]), base, threads[base],
				compare.Median(ratios), slices.Min(ratios), slices.Max(ratios), len(ratios))
		}
	}
	return nil
}

// summaryLine sums up one workload's rounds: the median of lwca's times and, when PyTorch ran,
// the median, lowest and highest of the per-round ratios (each measured side by side).
func summaryLine(name string, times, ratios []float64) string {
	line := fmt.Sprintf("%-22s median of %d rounds: lwca=%9.3f ms", name, len(times), compare.Median(times))
	if len(ratios) > 0 {
		line += fmt.Sprintf("  ratio=%.2f (%.2f–%.2f)", compare.Median(ratios), slices.Min(ratios), slices.Max(ratios))
	}
	return line
}

// runTorch runs the embedded reference script and returns median milliseconds per workload.
func runTorch(python, threads string, names []string, stderr io.Writer) (map[string]float64, error) {
	dir, err := os.MkdirTemp("", "lwca-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "torch_reference.py")
	if err := os.WriteFile(script, bench.TorchScript, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(python, append([]string{script, threads}, names...)...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	res := map[string]float64{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var r struct {
			Workload string
			Ms       float64
		}
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Workload != "" {
			res[r.Workload] = r.Ms
		}
	}
	if err := cmd.Wait(); err != nil {
		return res, fmt.Errorf("%s: %w", python, err)
	}
	return res, nil
}

// overheadSetting is one run of the overhead measurements: its label and its overrides of
// the overhead config.
type overheadSetting struct {
	label     string
	overrides []string
}

// overheadWorkload measures what analysis settings add to a training run: the first setting
// is the baseline.
type overheadWorkload struct {
	name, data string
	src        string // the config
	settings   []overheadSetting
}

// mnistOverhead is configs/mnist_mlp_bn.yaml for two epochs (938 steps): the MNIST MLP of
// the README's first command on real data.
const mnistOverhead = `name: overhead
data: {dataset: mnist, batch_size: 128, normalize: standard}
model: {arch: mlp, depth: 4, width: 256, norm: batchnorm}
optim: {lr: 0.1, momentum: 0.9, weight_decay: 5.0e-4}
train: {epochs: 2, log_every: 0, checkpoint_every: 0}
analysis: {p: [0.2, 0.5, 0.8, 1.0]}
`

// denseOverhead is the same MLP for 800 steps on MNIST-shaped synthetic data whose every input
// varies (no zero columns to set aside): the costliest case of the 785-input factor.
const denseOverhead = `name: overhead
data:
  dataset: synthetic
  batch_size: 128
  synthetic: {classes: 10, dim: 784, train: 12800, test: 1000}
model: {arch: mlp, depth: 4, width: 256, norm: batchnorm}
train: {epochs: 8, log_every: 0, checkpoint_every: 0}
`

var (
	noAnalysis      = overheadSetting{label: "no analysis", overrides: []string{"analysis.every=0"}}
	defaultAnalysis = overheadSetting{label: "the default analysis every 100 steps", overrides: []string{"analysis.every=100"}}
	withSharpness   = overheadSetting{label: "the default analysis and the sharpness every 100 steps",
		overrides: []string{"analysis.every=100", "analysis.curvature.preset=sharpness"}}
)

// overheadWorkloads: analysis_overhead compares the default analysis (the window, beside
// training) with no analysis, and on the dense data also the window in turn with training and
// the training batch alone (the estimator of earlier versions); sharpness_overhead adds the
// sharpness to the default analysis.
var overheadWorkloads = []overheadWorkload{
	{name: "analysis_overhead", data: "MNIST", src: mnistOverhead, settings: []overheadSetting{noAnalysis, defaultAnalysis}},
	{name: "analysis_overhead", data: "dense", src: denseOverhead, settings: []overheadSetting{noAnalysis, defaultAnalysis,
		{label: "the window in turn", overrides: []string{"analysis.every=100", "analysis.concurrent=false"}},
		{label: "the batch in turn", overrides: []string{"analysis.every=100", "analysis.source=batch", "analysis.concurrent=false"}}}},
	{name: "sharpness_overhead", data: "MNIST", src: mnistOverhead, settings: []overheadSetting{defaultAnalysis, withSharpness}},
	{name: "sharpness_overhead", data: "dense", src: denseOverhead, settings: []overheadSetting{defaultAnalysis, withSharpness}},
}

// overheadRounds is the least number of rounds of the overhead measurements.
const overheadRounds = 5

// overheadRuns trains the config src in each setting (its other analysis options the
// defaults: spectra kept, K-FAC fidelity of the small layers), each with the BLAS threads lwca
// run would give it, and returns, by label, the wall times in seconds of every round and the
// thread counts. A time runs from the end of the first step to the end of the run. Each round
// runs every setting once, in reverse order every other round: on this kind of shared machine
// the speed drifts by tens of percent over minutes, and only settings measured side by side
// compare (the ratio of a round's times).
func overheadRuns(g *globals, info backend.Info, src string, settings []overheadSetting, rounds int) (map[string][]float64, map[string]int, error) {
	dir, err := os.MkdirTemp("", "lwca-overhead")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	defer backend.Init(backend.Mode(info.Name), info.Threads)
	times, threads := map[string][]float64{}, map[string]int{}
	for rep := range rounds {
		order := slices.Clone(settings)
		if rep%2 == 1 {
			slices.Reverse(order)
		}
		for i, s := range order {
			cfg, err := config.Parse("overhead.yaml", []byte(src), s.overrides)
			if err != nil {
				return nil, nil, err
			}
			run, err := backend.Init(backend.Mode(info.Name), info.Threads)
			if err == nil {
				run, err = g.runThreads(cfg, run)
			}
			if err != nil {
				return nil, nil, err
			}
			threads[s.label] = run.Threads
			// From the end of the first step: loading the data and building the
			// network are the same in every setting.
			var start time.Time
			first := func(step int) {
				if step == 0 {
					start = time.Now()
				}
			}
			if _, err := experiments.Run(context.Background(), cfg, filepath.Join(dir, fmt.Sprint(rep, i)), experiments.Options{AfterStep: first}); err != nil {
				return nil, nil, err
			}
			times[s.label] = append(times[s.label], time.Since(start).Seconds())
		}
	}
	return times, threads, nil
}
