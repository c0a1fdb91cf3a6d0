package graph_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lwca/lwca/graph"
	G "gorgonia.org/gorgonia"
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

// BatchNorm's batch statistics keep their precision in float32 for channels far from zero and
// over several row blocks: with momentum 1 the running statistics are the batch mean and the
// unbiased variance, checked against float64 two-pass sums of the same float32 values.
func TestBatchNormStatisticsFarFromZero(t *testing.T) {
	const n, h, w, c = 4, 32, 32, 3
	offsets, stds := [c]float64{0, 1e3, -50}, [c]float64{1, 1e-2, 3}
	dim := h * w * c
	bn := &graph.BatchNorm{Name: "bn", C: c, Momentum: 1, Eps: 1e-5}
	net := graph.Sequential{graph.Image{H: h, W: w, C: c}, bn}
	store := graph.NewStore(tensor.Float32, 1)
	g := graph.NewExprGraph()
	b := graph.NewBuilder(g, store, graph.Train, n)
	in := b.Input("x", n, dim)
	x := in.Value().(*tensor.Dense).Float32s()
	r := rand.New(rand.NewPCG(7, 8))
	for i := range x {
		x[i] = float32(offsets[i%c] + stds[i%c]*r.NormFloat64())
	}
	if _, err := net.Forward(b, in); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.WithEngine(graph.Engine))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	rows := n * h * w
	runMean := store.Buffer("bn.running_mean").Value.Float32s()
	runVar := store.Buffer("bn.running_var").Value.Float32s()
	for ch := 0; ch < c; ch++ {
		mean, sq := 0.0, 0.0
		for p := 0; p < rows; p++ {
			mean += float64(x[p*c+ch])
		}
		mean /= float64(rows)
		for p := 0; p < rows; p++ {
			d := float64(x[p*c+ch]) - mean
			sq += d * d
		}
		unbiased := sq / float64(rows-1)
		if got := float64(runMean[ch]); math.Abs(got-mean) > 1e-6*math.Abs(mean)+1e-7 {
			t.Errorf("channel %d: mean %v, want %v", ch, got, mean)
		}
		if got := float64(runVar[ch]); math.Abs(got-unbiased) > 1e-6*unbiased {
			t.Errorf("channel %d: variance %v, want %v", ch, got, unbiased)
		}
	}
}
