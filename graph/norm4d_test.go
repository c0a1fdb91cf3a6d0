package graph_test

import (
	"math"
	"testing"

	"github.com/lwca/lwca/graph"
	"gorgonia.org/tensor"
)

// The existing BatchNorm normalises the channels of (N, H, W, C) over all N·H·W positions,
// like PyTorch's BatchNorm2d: checked against per-channel statistics computed directly.
func TestBatchNormOnImages(t *testing.T) {
	const n, h, w, c = 3, 4, 5, 3
	dim := h * w * c
	bn := graph.NewBatchNorm("bn", c)
	net := graph.Sequential{graph.Image{H: h, W: w, C: c}, bn}
	store := initParams(t, net, n, dim, 1)
	randomize(store, 2, 1)
	gamma, beta := param(t, store, "bn.scale"), param(t, store, "bn.shift")
	bt := newBatch(3, n, dim, 2)
	// A training graph uses batch statistics.
	g := graph.NewExprGraph()
	b := graph.NewBuilder(g, store, graph.Train, n)
	in := b.Input("x", n, dim)
	copy(in.Value().(*tensor.Dense).Float64s(), bt.x64)
	out, err := net.Forward(b, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Shape(); len(got) != 4 || got[3] != c {
		t.Fatalf("shape %v", got)
	}
	y := runGraph(t, g, out)
	for ch := 0; ch < c; ch++ {
		mean, sq := 0.0, 0.0
		for p := 0; p < n*h*w; p++ {
			mean += bt.x64[p*c+ch]
		}
		mean /= n * h * w
		for p := 0; p < n*h*w; p++ {
			d := bt.x64[p*c+ch] - mean
			sq += d * d
		}
		std := math.Sqrt(sq/(n*h*w) + bn.Eps)
		for p := 0; p < n*h*w; p++ {
			want := (bt.x64[p*c+ch]-mean)/std*gamma[ch] + beta[ch]
			if got := y[p*c+ch]; !closeTo(got, want, 1e-12) {
				t.Fatalf("y[%d,%d] = %v, want %v", p, ch, got, want)
			}
		}
	}
}

// Gradients through BatchNorm on images (input, scale, shift) match central differences.
func TestBatchNormOnImagesGradients(t *testing.T) {
	const n, h, w, c, classes = 2, 3, 4, 3, 3
	dim := h * w * c
	net := graph.Sequential{graph.Image{H: h, W: w, C: c}, offset{"in"},
		&graph.Conv2d{Name: "conv", In: c, Out: 4, KH: 3, KW: 3, Stride: 1, Pad: 1}, graph.NewBatchNorm("bn", 4), graph.Tanh,
		graph.GlobalAvgPool{}, graph.NewLinear("fc", 4, classes)}
	tr, store := newTrainer(t, net, n, dim, 4)
	randomize(store, 5, 0.5)
	checkGrads(t, tr, newBatch(6, n, dim, classes), 1e-6)
}
