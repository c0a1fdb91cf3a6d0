package graph_test

import (
	"math"
	"strings"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// bnReLUNet is a small convnet whose BatchNorm is directly followed by ReLU: fused when
// fuse is set, and kept apart (a BatchNorm alone in an inner Sequential) when not.
func bnReLUNet(fuse bool, c int) graph.Layer {
	bn := graph.NewBatchNorm("bn", c)
	var mid graph.Layer = graph.Sequential{bn, graph.ReLU}
	if !fuse {
		mid = graph.Sequential{graph.Sequential{bn}, graph.ReLU}
	}
	return graph.Sequential{graph.Image{H: 5, W: 6, C: 3}, offset{"in"},
		&graph.Conv2d{Name: "conv", In: 3, Out: c, KH: 3, KW: 3, Stride: 1, Pad: 1}, mid,
		graph.GlobalAvgPool{}, graph.NewLinear("fc", c, 4)}
}

// A BatchNorm fused with the ReLU after it gives the same loss, parameter gradients and
// running statistics as the two layers apart, bit for bit, in float32 (the assembly kernels,
// 16 channels) and float64, over two training steps.
func TestFusedBatchNormReLUEqualsUnfused(t *testing.T) {
	const n, dim, c = 4, 5 * 6 * 3, 16
	for fuse, want := range map[bool]int{true: 1, false: 0} {
		g := graph.NewExprGraph()
		b := graph.NewBuilder(g, graph.NewStore(tensor.Float32, 1), graph.Train, n)
		if _, err := bnReLUNet(fuse, c).Forward(b, b.Input("x", n, dim)); err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, node := range g.AllNodes() {
			if node.Op() != nil && strings.Contains(node.Op().String(), "batchnorm+relu") {
				got++
			}
		}
		if got != want {
			t.Fatalf("fuse=%v: %d fused BatchNorm+ReLU ops, want %d", fuse, got, want)
		}
	}
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		run := func(fuse bool) (losses []float64, grads [][]float64, stats []float64) {
			store := graph.NewStore(dt, 3)
			tr, err := train.NewTrainer(bnReLUNet(fuse, c), store, n, dim)
			if err != nil {
				t.Fatal(err)
			}
			for step := uint64(0); step < 2; step++ {
				bt := newBatch(10+step, n, dim, 4)
				loss, _, err := tr.Run(bt.x, bt.y, false)
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, loss)
				for i := range tr.Params() {
					g, err := tr.Grad(i)
					if err != nil {
						t.Fatal(err)
					}
					grads = append(grads, float64s(g))
				}
			}
			for _, name := range []string{"bn.running_mean", "bn.running_var"} {
				stats = append(stats, float64s(store.Buffer(name).Value)...)
			}
			return losses, grads, stats
		}
		l1, g1, s1 := run(true)
		l2, g2, s2 := run(false)
		sameBits(t, dt.String()+" loss", l1, l2)
		for i := range g2 {
			sameBits(t, dt.String()+" gradient", g1[i], g2[i])
		}
		sameBits(t, dt.String()+" running statistics", s1, s2)
	}
}

// The fused op's gradients pass central differences.
func TestFusedBatchNormReLUGradients(t *testing.T) {
	const n, dim, c = 3, 5 * 6 * 3, 4
	tr, store := newTrainer(t, bnReLUNet(true, c), n, dim, 6)
	randomize(store, 7, 0.5)
	checkGrads(t, tr, newBatch(8, n, dim, 4), 1e-6)
}

func float64s(d *tensor.Dense) []float64 {
	switch v := d.Data().(type) {
	case []float32:
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	case []float64:
		return append([]float64(nil), v...)
	}
	return nil
}

func sameBits(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s[%d]: fused %v, apart %v", what, i, got[i], want[i])
		}
	}
}
