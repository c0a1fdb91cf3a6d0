package experiments

import (
	"math/rand/v2"
	"testing"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// BenchmarkAnalysisStep measures one full analysis step of the 784-256-256-256-10 MLP at batch
// 128: every layer's Σx and Σ∇h from the hook captures, their eigenvalues, the product
// spectrum of F and all metrics (the PyTorch reference's analyse_ms covers factors and
// eigenvalues only).
func BenchmarkAnalysisStep(b *testing.B) {
	for _, bn := range []bool{false, true} {
		name := "plain"
		norm := nets.NoNorm
		if bn {
			name, norm = "bn", nets.BatchNorm
		}
		b.Run(name, func(b *testing.B) {
			net, err := nets.MLP(nets.MLPSpec{Input: 784, Depth: 4, Width: 256, Classes: 10, Bias: true, Norm: norm})
			if err != nil {
				b.Fatal(err)
			}
			tr, err := train.NewTrainer(net, graph.NewStore(tensor.Float32, 1), 128, 784)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			x := make([]float32, 128*784)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			y := make([]int32, 128)
			for i := range y {
				y[i] = int32(rng.IntN(10))
			}
			if _, _, err := tr.Run(x, y, true); err != nil {
				b.Fatal(err)
			}
			c := newConditioner([]float64{0.2, 0.5, 0.8, 1}, nil, analysis.FactorOptions{})
			nothing := func(string) *tensor.Dense { return nil }
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.analyse(tr.Hooks(), nothing, nothing, 0.1, 0.9); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
