package nets_test

import (
	"bufio"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lwca/lwca/backend"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"github.com/lwca/lwca/optim"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// BenchmarkResNet20Step measures one training step (forward, backward, SGD with momentum) of
// the CIFAR ResNet-20 at batch 128 in float32, the workload of the PyTorch reference, once per
// numeric backend: OpenBLAS with one thread per call (the convolutions run one product per
// core themselves), OpenBLAS with a thread per core, and pure-Go gonum. It reports wall and
// CPU time per step and the peak resident memory of the sub-benchmark.
func BenchmarkResNet20Step(b *testing.B) { eachBackend(b, resnetStep(20, 128, false)) }

// BenchmarkResNet20StepCapture is the same step with every hook point capturing, as on an
// analysis step.
func BenchmarkResNet20StepCapture(b *testing.B) { eachBackend(b, resnetStep(20, 128, true)) }

func eachBackend(b *testing.B, f func(*testing.B)) {
	for _, c := range []struct {
		name    string
		mode    backend.Mode
		threads int
	}{{"openblas-1thread", backend.OpenBLAS, 1}, {"openblas", backend.OpenBLAS, 0}, {"gonum", backend.Gonum, 0}} {
		info, err := backend.Init(c.mode, c.threads)
		if err != nil {
			b.Logf("%s: %v", c.name, err)
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			b.Logf("backend %v", info)
			f(b)
		})
	}
	if _, err := backend.Init(backend.Auto, 0); err != nil {
		b.Log(err)
	}
}

func resnetStep(depth, batch int, capture bool) func(*testing.B) {
	return func(b *testing.B) {
		runtime.GC()
		debug.FreeOSMemory()
		resetPeakRSS()
		net, err := nets.ResNet(nets.ResNetSpec{Depth: depth})
		if err != nil {
			b.Fatal(err)
		}
		const dim = 32 * 32 * 3
		tr, err := train.NewTrainer(net, graph.NewStore(tensor.Float32, 1), batch, dim)
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		x := make([]float32, batch*dim)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		y := make([]int32, batch)
		for i := range y {
			y[i] = int32(rng.IntN(10))
		}
		var weights []*tensor.Dense
		for _, p := range tr.Params() {
			weights = append(weights, p.Value)
		}
		opt := optim.NewSGD(optim.SGDConfig{Momentum: 0.9})
		step := func() {
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
		step() // the first run allocates the ops' buffers
		cpu0 := cpuTime()
		b.ResetTimer()
		for b.Loop() {
			step()
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/step")
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
// each sub-benchmark reports its own peak.
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
