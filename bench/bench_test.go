package bench

import (
	"os"
	"testing"

	"github.com/lwca/lwca/backend"
	"github.com/lwca/lwca/backend/backendtest"
	"github.com/lwca/lwca/nets"
)

func BenchmarkMLPStep(b *testing.B)   { backendtest.Each(b, MLPStep(nets.NoNorm, false)) }
func BenchmarkMLPStepBN(b *testing.B) { backendtest.Each(b, MLPStep(nets.BatchNorm, false)) }

// BenchmarkMLPStepCapture is a step with the hook captures of an analysis step.
func BenchmarkMLPStepCapture(b *testing.B) { backendtest.Each(b, MLPStep(nets.BatchNorm, true)) }

func BenchmarkAnalysisStep(b *testing.B)   { backendtest.Each(b, AnalysisStep(nets.NoNorm)) }
func BenchmarkAnalysisStepBN(b *testing.B) { backendtest.Each(b, AnalysisStep(nets.BatchNorm)) }
func BenchmarkAnalysisStepFidelity(b *testing.B) {
	backendtest.Each(b, AnalysisStepFidelity(nets.NoNorm))
}

func BenchmarkEigenvalues256(b *testing.B)  { backendtest.Each(b, Eigenvalues(256)) }
func BenchmarkEigenvalues785(b *testing.B)  { backendtest.Each(b, Eigenvalues(785)) }
func BenchmarkEigenvalues2304(b *testing.B) { slow(b, Eigenvalues(2304)) }
func BenchmarkEigenvalues4608(b *testing.B) { slow(b, Eigenvalues(4608)) }

// slow runs a workload that takes minutes with the pure-Go solver on that backend only when
// LWCA_BENCH_SLOW=1.
func slow(b *testing.B, f func(*testing.B)) {
	backendtest.Each(b, func(b *testing.B) {
		if backend.Current().Name == "gonum" && os.Getenv("LWCA_BENCH_SLOW") != "1" {
			b.Skip("pure-Go eigenvalues at this size take minutes; set LWCA_BENCH_SLOW=1")
		}
		f(b)
	})
}

// BenchmarkResNet20Step runs once per backend, and with OpenBLAS also with one thread per
// call, the setting of convolutional runs (the convolutions run one product per core).
func BenchmarkResNet20Step(b *testing.B) { convBackends(b, ResNetStep(20)) }

// BenchmarkResNet20StepCapture is the same step with every hook point capturing.
func BenchmarkResNet20StepCapture(b *testing.B) { convBackends(b, ResNetStepCapture(20)) }

func convBackends(b *testing.B, f func(*testing.B)) {
	if _, err := backend.Init(backend.OpenBLAS, 1); err == nil {
		b.Run("openblas-1thread", f)
	}
	backendtest.Each(b, f)
}

// BenchmarkHessianLanczos is the top Hessian eigenvalue by 20 Lanczos steps on 512 samples.
func BenchmarkHessianLanczosMLP(b *testing.B)      { backendtest.Each(b, HessianLanczos("mlp")) }
func BenchmarkHessianLanczosResNet20(b *testing.B) { backendtest.Each(b, HessianLanczos("resnet20")) }
