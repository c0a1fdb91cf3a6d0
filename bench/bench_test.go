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

func BenchmarkResNet20Step(b *testing.B) { backendtest.Each(b, ResNetStep(20)) }
