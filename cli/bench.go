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
	known := map[string]bool{"analysis_overhead": true, "sharpness_overhead": true}
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
	overhead := len(only) == 0 || only["analysis_overhead"]
	sharpness := len(only) == 0 || only["sharpness_overhead"]
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
	if overhead {
		times, threads, err := overheadRuns(g, info, analysisSettings)
		if err != nil {
			return err
		}
		without := times[""]
		for _, s := range analysisSettings[1:] {
			fmt.Fprintf(stdout, "%-22s lwca=%9.3f s with analysis every 100 steps (%s, %d BLAS threads), %.3f s without (%d)  ratio=%.3f\n",
				"analysis_overhead", times[s.label], s.label, threads[s.label], without, threads[""], times[s.label]/without)
		}
	}
	if sharpness {
		times, _, err := overheadRuns(g, info, sharpnessSettings)
		if err != nil {
			return err
		}
		with, without := times["sharpness"], times["analysis"]
		fmt.Fprintf(stdout, "%-22s lwca=%9.3f s with the sharpness every 100 steps, %.3f s without  ratio=%.3f\n",
			"sharpness_overhead", with, without, with/without)
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

// analysisSettings are the runs of analysis_overhead: none first (the baseline), then the
// default analysis (the window, beside training), the window in turn with training, and the
// training batch alone in turn (the estimator of earlier versions).
var analysisSettings = []overheadSetting{
	{label: "", overrides: []string{"analysis.every=0"}},
	{label: "source window, beside training", overrides: []string{"analysis.every=100"}},
	{label: "source window, in turn", overrides: []string{"analysis.every=100", "analysis.concurrent=false"}},
	{label: "source batch, in turn", overrides: []string{"analysis.every=100", "analysis.source=batch", "analysis.concurrent=false"}},
}

var sharpnessSettings = []overheadSetting{
	{label: "sharpness", overrides: []string{"analysis.every=100", "analysis.curvature.preset=sharpness"}},
	{label: "analysis", overrides: []string{"analysis.every=100"}},
}

// overheadRuns trains the 784-256-256-256-10 MLP with BatchNorm for 800 steps on
// MNIST-shaped synthetic data (dense inputs: no zero rows to set aside) in each setting
// (default analysis options otherwise: spectra kept, K-FAC fidelity of the small layers), each
// with the BLAS threads lwca run would give it, and returns the wall times in seconds and the
// thread counts by label. The settings alternate, and each keeps the best of three runs, to
// damp the machine's noise.
func overheadRuns(g *globals, info backend.Info, settings []overheadSetting) (map[string]float64, map[string]int, error) {
	src := `name: overhead
data:
  dataset: synthetic
  batch_size: 128
  synthetic: {classes: 10, dim: 784, train: 12800, test: 1000}
model: {arch: mlp, depth: 4, width: 256, norm: batchnorm}
train: {epochs: 8, log_every: 0, checkpoint_every: 0}
`
	dir, err := os.MkdirTemp("", "lwca-overhead")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	defer backend.Init(backend.Mode(info.Name), info.Threads)
	times, threads := map[string]float64{}, map[string]int{}
	for rep := 0; rep < 3; rep++ {
		for i, s := range settings {
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
			start := time.Now()
			if _, err := experiments.Run(context.Background(), cfg, filepath.Join(dir, fmt.Sprint(rep, i)), experiments.Options{}); err != nil {
				return nil, nil, err
			}
			if took := time.Since(start).Seconds(); times[s.label] == 0 || took < times[s.label] {
				times[s.label] = took
			}
		}
	}
	return times, threads, nil
}
