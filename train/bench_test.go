package train

import (
	"math/rand/v2"
	"testing"

	"github.com/lwca/lwca/backend"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"github.com/lwca/lwca/optim"
	"gorgonia.org/tensor"
)

// benchStep measures one training step (forward, backward, SGD update) of the
// 784-256-256-256-10 MLP at batch 128 in float32, the workload of the PyTorch reference.
func benchStep(b *testing.B, norm nets.Norm, capture bool) {
	net, err := nets.MLP(nets.MLPSpec{Input: 784, Depth: 4, Width: 256, Classes: 10, Bias: true, Norm: norm})
	if err != nil {
		b.Fatal(err)
	}
	store := graph.NewStore(tensor.Float32, 1)
	tr, err := NewTrainer(net, store, 128, 784)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 128*784)
	y := make([]int32, 128)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for i := range y {
		y[i] = int32(rng.IntN(10))
	}
	opt := optim.NewSGD(optim.SGDConfig{Momentum: 0.9})
	var weights []*tensor.Dense
	for _, p := range tr.Params() {
		weights = append(weights, p.Value)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
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

// onBackends runs f once per numeric backend that loads here.
func onBackends(b *testing.B, f func(b *testing.B)) {
	for _, mode := range []backend.Mode{backend.OpenBLAS, backend.Gonum} {
		if _, err := backend.Init(mode, 0); err != nil {
			b.Logf("%s: %v", mode, err)
			continue
		}
		b.Run(string(mode), f)
	}
	backend.Init(backend.Auto, 0)
}

func BenchmarkMLPStep(b *testing.B) {
	onBackends(b, func(b *testing.B) { benchStep(b, nets.NoNorm, false) })
}

func BenchmarkMLPStepBN(b *testing.B) {
	onBackends(b, func(b *testing.B) { benchStep(b, nets.BatchNorm, false) })
}

func BenchmarkMLPStepBNCapture(b *testing.B) {
	onBackends(b, func(b *testing.B) { benchStep(b, nets.BatchNorm, true) })
}
