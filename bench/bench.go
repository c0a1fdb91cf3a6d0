// Package bench defines lwca's performance workloads once, for `go test -bench` and for
// `lwca bench`, which runs them next to a PyTorch reference of the same workloads
// (torch_reference.py, embedded) on the same machine.
//
//	r := testing.Benchmark(bench.MLPStep(nets.BatchNorm, false))
package bench

import (
	"bufio"
	_ "embed"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/curvature"
	"github.com/lwca/lwca/curvature/netcurv"
	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"github.com/lwca/lwca/optim"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// randomBatch returns a standard-normal batch and uniform labels.
func randomBatch(rows, dim, classes int) ([]float32, []int32) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, rows*dim)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, rows)
	for i := range y {
		y[i] = int32(rng.IntN(classes))
	}
	return x, y
}

func mlp(norm nets.Norm, dtype tensor.Dtype, batch int) (*train.Trainer, error) {
	net, err := nets.MLP(nets.MLPSpec{Input: 784, Depth: 4, Width: 256, Classes: 10, Bias: true, Norm: norm})
	if err != nil {
		return nil, err
	}
	return train.NewTrainer(net, graph.NewStore(dtype, 1), batch, 784)
}

// MLPStep is one training step (forward, backward, SGD with momentum) of the
// 784-256-256-256-10 MLP at batch 128 in float32, with hook captures if capture is set.
func MLPStep(norm nets.Norm, capture bool) func(b *testing.B) {
	return func(b *testing.B) {
		tr, err := mlp(norm, tensor.Float32, 128)
		if err != nil {
			b.Fatal(err)
		}
		x, y := randomBatch(128, 784, 10)
		step := trainingStep(b, tr, x, y, capture)
		b.ReportAllocs()
		b.ResetTimer()
		eachTimed(b, step)
	}
}

// eachTimed runs f b.N times and also reports the median time of one run, in ms, as
// "median-ms": the statistic PyTorch's reference reports, which a few runs slowed by other work
// on the machine do not move as they move the mean.
func eachTimed(b *testing.B, f func()) {
	ms := make([]float64, 0, b.N)
	for i := 0; i < b.N; i++ {
		start := time.Now()
		f()
		ms = append(ms, float64(time.Since(start))/1e6)
	}
	b.ReportMetric(compare.Median(ms), "median-ms")
}

// trainingStep returns one step of tr on the batch x, y: forward and backward (capturing if
// capture is set) and an SGD update with momentum 0.9 at lr 0.01.
func trainingStep(b *testing.B, tr *train.Trainer, x []float32, y []int32, capture bool) func() {
	opt := optim.NewSGD(optim.SGDConfig{Momentum: 0.9})
	var weights []*tensor.Dense
	for _, p := range tr.Params() {
		weights = append(weights, p.Value)
	}
	return func() {
		if _, _, err := tr.Run(x, y, capture); err != nil {
			b.Fatal(err)
		}
		grads, err := tr.Grads()
		if err != nil {
			b.Fatal(err)
		}
		if err := opt.Step(weights, grads, 0.01); err != nil {
			b.Fatal(err)
		}
	}
}

// AnalysisStep is one full analysis of the MLP's four layers at batch 128: a captured
// training pass, both factors of every layer, their eigenvalues, the product spectrum and
// every metric — the work PyTorch's reference times as analyse_ms (a forward and backward pass
// with hooks, factors and eigvalsh).
func AnalysisStep(norm nets.Norm) func(b *testing.B) { return analysisStep(norm, false) }

// AnalysisStepFidelity is AnalysisStep plus the K-FAC fidelity of every layer (the exact
// empirical Fisher block from the per-sample gradients, its spectrum and the errors of the
// Kronecker approximation), whatever the layer's size.
func AnalysisStepFidelity(norm nets.Norm) func(b *testing.B) { return analysisStep(norm, true) }

func analysisStep(norm nets.Norm, fidelity bool) func(b *testing.B) {
	return func(b *testing.B) {
		tr, err := mlp(norm, tensor.Float32, 128)
		if err != nil {
			b.Fatal(err)
		}
		x, y := randomBatch(128, 784, 10)
		ps := analysis.DefaultP()
		b.ResetTimer()
		eachTimed(b, func() {
			if _, _, err := tr.Run(x, y, true); err != nil {
				b.Fatal(err)
			}
			if _, err := experiments.AnalyseCapture(tr.Hooks(), ps, analysis.FactorOptions{}); err != nil {
				b.Fatal(err)
			}
			if !fidelity {
				return
			}
			for _, p := range tr.Hooks().Points() {
				if _, err := analysis.KFACFidelity(p.X.Float64(), p.G.Float64(), p.X.Rows, p.X.Cols, p.G.Cols, ps, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Eigenvalues is the eigenvalues-only decomposition of an n×n symmetric positive
// semi-definite matrix (a second-moment factor of n features).
func Eigenvalues(n int) func(b *testing.B) {
	return func(b *testing.B) {
		rng := rand.New(rand.NewPCG(3, 4))
		x := make([]float64, 2*n*n)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		m := analysis.NewMoment(n)
		m.AddRows64(x, 2*n, 1)
		a := m.Matrix(analysis.FactorOptions{})
		b.ResetTimer()
		eachTimed(b, func() {
			if _, err := analysis.DefaultSolver(a); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TorchScript is the PyTorch reference of these workloads (torch_reference.py).
//
//go:embed torch_reference.py
var TorchScript []byte

// Workload is a named benchmark that PyTorch's reference also measures (same name).
type Workload struct {
	Name string
	Run  func(b *testing.B)
	Slow bool // minutes with the pure-Go backend; opt-in
	// ConvNet workloads run with one BLAS thread: the convolutions already spread their
	// products over the cores, and BLAS threads would spin against them.
	ConvNet bool
}

// Workloads lists the standard workloads in report order.
func Workloads() []Workload {
	return []Workload{
		{Name: "mlp_step", Run: MLPStep(nets.NoNorm, false)},
		{Name: "mlp_step_bn", Run: MLPStep(nets.BatchNorm, false)},
		{Name: "analysis_step", Run: AnalysisStep(nets.NoNorm)},
		{Name: "analysis_step_bn", Run: AnalysisStep(nets.BatchNorm)},
		{Name: "analysis_step_fidelity", Run: AnalysisStepFidelity(nets.NoNorm)},
		{Name: "eigenvalues_256", Run: Eigenvalues(256)},
		{Name: "eigenvalues_785", Run: Eigenvalues(785)},
		{Name: "eigenvalues_2304", Run: Eigenvalues(2304)},
		{Name: "eigenvalues_4608", Run: Eigenvalues(4608), Slow: true},
		{Name: "resnet20_step", Run: ResNetStep(20), ConvNet: true},
		{Name: "hessian_lanczos_mlp", Run: HessianLanczos("mlp")},
		{Name: "hessian_lanczos_resnet20", Run: HessianLanczos("resnet20"), Slow: true},
	}
}

// ResNetStep is one training step of the CIFAR ResNet of the given depth (original form,
// option-A shortcuts) at batch 128 on 32×32×3 inputs, float32, SGD with momentum. Besides the
// time per operation it reports CPU time per step and the peak resident memory of the
// benchmark (Linux).
func ResNetStep(depth int) func(b *testing.B) { return resnetStep(depth, false) }

// ResNetStepCapture is ResNetStep with every hook point capturing, as on an analysis step.
func ResNetStepCapture(depth int) func(b *testing.B) { return resnetStep(depth, true) }

func resnetStep(depth int, capture bool) func(b *testing.B) {
	return func(b *testing.B) {
		runtime.GC()
		debug.FreeOSMemory()
		resetPeakRSS()
		net, err := nets.ResNet(nets.ResNetSpec{Depth: depth})
		if err != nil {
			b.Fatal(err)
		}
		tr, err := train.NewTrainer(net, graph.NewStore(tensor.Float32, 1), 128, 32*32*3)
		if err != nil {
			b.Fatal(err)
		}
		x, y := randomBatch(128, 32*32*3, 10)
		step := trainingStep(b, tr, x, y, capture)
		step() // the first run allocates the ops' buffers
		cpu0 := cpuTime()
		b.ResetTimer()
		eachTimed(b, step)
		b.StopTimer()
		b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/step")
		if mb := peakRSS(); mb > 0 {
			b.ReportMetric(mb, "peak-RSS-MB")
		}
	}
}

// cpuTime is the user and system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS restarts the kernel's peak-memory count (Linux; a no-op elsewhere), so that
// each benchmark reports its own peak.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is the peak resident memory in MB since the last reset (Linux's VmHWM), or the
// process's lifetime peak where /proc is missing.
func peakRSS() float64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}

// HessianLanczos is the top Hessian eigenvalue of the mean cross-entropy on a 512-sample
// batch: the exact Hessian-vector products of package rop in float32 (netcurv's Single) and
// 20 Lanczos steps with full reorthogonalisation, as the PyTorch reference runs them with
// double backprop. It times the preparation (a forward and backward pass) and the 20
// products; the model's construction is outside the timing. net is "mlp" (784-256-256-256-10
// with BatchNorm) or "resnet20".
func HessianLanczos(net string) func(b *testing.B) {
	return func(b *testing.B) {
		var (
			layer graph.Layer
			dim   int
			err   error
		)
		switch net {
		case "mlp":
			layer, err = nets.MLP(nets.MLPSpec{Input: 784, Depth: 4, Width: 256, Classes: 10, Bias: true, Norm: nets.BatchNorm})
			dim = 784
		case "resnet20":
			layer, err = nets.ResNet(nets.ResNetSpec{Depth: 20})
			dim = 32 * 32 * 3
		default:
			b.Fatalf("bench: no network %q", net)
		}
		if err != nil {
			b.Fatal(err)
		}
		x, y := randomBatch(512, dim, 10)
		m, err := netcurv.New(layer, graph.NewStore(tensor.Float64, 1), x, y, dim)
		if err != nil {
			b.Fatal(err)
		}
		all, err := m.Select()
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		eachTimed(b, func() {
			h, err := m.Hessian(all, netcurv.Options{Single: true})
			if err != nil {
				b.Fatal(err)
			}
			if !h.Exact() {
				b.Fatal("bench: no exact Hessian product")
			}
			// A tolerance no 20 steps reach, so that both sides run all 20.
			if _, err := curvature.Lanczos(h, curvature.LanczosOptions{MaxIter: 20, Tol: 1e-300, Seed: 1}); err != nil {
				b.Fatal(err)
			}
		})
	}
}
