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

// residualReLUNet is a post-activation residual network (a block with an identity shortcut,
// then one with a strided option-A shortcut, c1 and c2 channels), each block's ReLU fused when
// fuse is set.
func residualReLUNet(fuse bool, c1, c2 int) graph.Layer {
	block := func(name string, in, out, stride int) graph.Layer {
		body := graph.Sequential{
			&graph.Conv2d{Name: name + ".conv1", In: in, Out: out, KH: 3, KW: 3, Stride: stride, Pad: 1},
			graph.NewBatchNorm(name+".bn1", out), graph.ReLU,
			&graph.Conv2d{Name: name + ".conv2", In: out, Out: out, KH: 3, KW: 3, Stride: 1, Pad: 1},
			graph.NewBatchNorm(name+".bn2", out),
		}
		var r graph.Layer = graph.Residual{Body: body}
		if in != out || stride != 1 {
			r = graph.Residual{Body: body, Shortcut: graph.ShortcutA{Stride: stride, In: in, Out: out}}
		}
		if !fuse {
			r = graph.Sequential{r}
		}
		return graph.Sequential{r, graph.ReLU}
	}
	return graph.Sequential{graph.Image{H: 6, W: 6, C: 3}, offset{"in"},
		&graph.Conv2d{Name: "conv", In: 3, Out: c1, KH: 3, KW: 3, Stride: 1, Pad: 1},
		block("b1", c1, c1, 1), block("b2", c1, c2, 2), graph.GlobalAvgPool{}, graph.NewLinear("fc", c2, 4)}
}

// A Residual fused with the ReLU after it gives the same loss and parameter gradients as the
// two layers apart, bit for bit, in float32 (16 and 32 channels: the direct kernels) and
// float64.
func TestFusedResidualReLUEqualsUnfused(t *testing.T) {
	const n, dim = 4, 6 * 6 * 3
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		l1, g1, _ := trainTwice(t, residualReLUNet(true, 16, 32), dt, n, dim)
		l2, g2, _ := trainTwice(t, residualReLUNet(false, 16, 32), dt, n, dim)
		sameBits(t, dt.String()+" loss", l1, l2)
		for i := range g2 {
			sameBits(t, dt.String()+" gradient", g1[i], g2[i])
		}
	}
	if got := countOps(t, residualReLUNet(true, 16, 32), n, dim, "add+relu"); got != 2 {
		t.Fatalf("%d fused add+relu ops, want 2", got)
	}
	if got := countOps(t, residualReLUNet(false, 16, 32), n, dim, "add+relu"); got != 0 {
		t.Fatalf("%d fused add+relu ops in the unfused net", got)
	}
}

// The fused residual sum's gradients pass central differences.
func TestFusedResidualReLUGradients(t *testing.T) {
	const n, dim = 2, 6 * 6 * 3
	tr, store := newTrainer(t, residualReLUNet(true, 2, 4), n, dim, 9)
	randomize(store, 10, 0.3)
	checkGrads(t, tr, newBatch(11, n, dim, 4), 1e-6)
}

// trainTwice runs two training steps of net in a new store of dtype dt and returns the losses,
// every parameter gradient of both steps, and the store.
func trainTwice(t *testing.T, net graph.Layer, dt tensor.Dtype, n, dim int) (losses []float64, grads [][]float64, store *graph.Store) {
	t.Helper()
	store = graph.NewStore(dt, 3)
	tr, err := train.NewTrainer(net, store, n, dim)
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
	return losses, grads, store
}

// countOps builds net's training graph and counts the ops whose name contains kind.
func countOps(t *testing.T, net graph.Layer, n, dim int, kind string) int {
	t.Helper()
	g := graph.NewExprGraph()
	b := graph.NewBuilder(g, graph.NewStore(tensor.Float32, 1), graph.Train, n)
	if _, err := net.Forward(b, b.Input("x", n, dim)); err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, node := range g.AllNodes() {
		if node.Op() != nil && strings.Contains(node.Op().String(), kind) {
			count++
		}
	}
	return count
}

// A BatchNorm fused with the ReLU after it gives the same loss, parameter gradients and
// running statistics as the two layers apart, bit for bit, in float32 (the assembly kernels,
// 16 channels) and float64, over two training steps, and then the same evaluation outputs.
func TestFusedBatchNormReLUEqualsUnfused(t *testing.T) {
	const n, dim, c = 4, 5 * 6 * 3, 16
	for fuse, want := range map[bool]int{true: 1, false: 0} {
		if got := countOps(t, bnReLUNet(fuse, c), n, dim, "batchnorm+relu"); got != want {
			t.Fatalf("fuse=%v: %d fused BatchNorm+ReLU ops, want %d", fuse, got, want)
		}
	}
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		l1, g1, st1 := trainTwice(t, bnReLUNet(true, c), dt, n, dim)
		l2, g2, st2 := trainTwice(t, bnReLUNet(false, c), dt, n, dim)
		sameBits(t, dt.String()+" loss", l1, l2)
		for i := range g2 {
			sameBits(t, dt.String()+" gradient", g1[i], g2[i])
		}
		for _, name := range []string{"bn.running_mean", "bn.running_var"} {
			sameBits(t, dt.String()+" "+name, float64s(st1.Buffer(name).Value), float64s(st2.Buffer(name).Value))
		}
		if dt == tensor.Float64 { // and in evaluation graphs, on the running statistics
			x := newBatch(20, n, dim, 4).x64
			y1, _ := forward(t, bnReLUNet(true, c), st1, x, n, dim)
			y2, _ := forward(t, bnReLUNet(false, c), st2, x, n, dim)
			sameBits(t, "evaluation output", y1, y2)
		}
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
