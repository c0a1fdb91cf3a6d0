package wsnorm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

const batch, in, classes = 6, 5, 3

func fixture(t *testing.T) (*train.Trainer, []float32, []int32) {
	t.Helper()
	net := graph.Sequential{&WSLinear{Name: "fc1", In: in, Out: 4, Bias: true, Eps: 1e-5},
		&RMSNorm{Name: "rms1", C: 4, Eps: 1e-6}, graph.Tanh,
		&WSLinear{Name: "fc2", In: 4, Out: classes, Bias: true, Eps: 1e-5}}
	tr, err := train.NewTrainer(net, graph.NewStore(tensor.Float64, 7), batch, in)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*in)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := []int32{0, 1, 2, 0, 1, 2}
	// Scales away from 1 so the γ gradient is exercised.
	for _, p := range tr.Params() {
		if p.Name == "rms1.scale" {
			for i, v := range []float64{0.5, 1.5, -1, 2} {
				p.Value.Data().([]float64)[i] = v
			}
		}
	}
	return tr, x, y
}

func loss(t *testing.T, tr *train.Trainer, x []float32, y []int32) float64 {
	t.Helper()
	l, _, err := tr.Run(x, y, false)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Gorgonia differentiates through the standardisation and the RMS normalisation: every
// parameter's gradient matches central differences of the loss.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	tr, x, y := fixture(t)
	loss(t, tr, x, y)
	grads, err := tr.Grads()
	if err != nil {
		t.Fatal(err)
	}
	var g [][]float64
	for _, d := range grads {
		g = append(g, append([]float64(nil), d.Data().([]float64)...))
	}
	const h = 1e-6
	for i, p := range tr.Params() {
		w := p.Value.Data().([]float64)
		for j := range w {
			old := w[j]
			w[j] = old + h
			up := loss(t, tr, x, y)
			w[j] = old - h
			down := loss(t, tr, x, y)
			w[j] = old
			fd := (up - down) / (2 * h)
			if math.Abs(fd-g[i][j]) > 1e-6*(1+math.Abs(fd)) {
				t.Errorf("%s[%d]: gradient %v, central difference %v", p.Name, j, g[i][j], fd)
			}
		}
	}
}

// Weight standardisation makes the layer invariant to an affine change of each column of W:
// scaling a column by α > 0 and shifting it leaves the loss unchanged.
func TestStandardisationInvariance(t *testing.T) {
	tr, x, y := fixture(t)
	before := loss(t, tr, x, y)
	for _, p := range tr.Params() {
		if p.Name != "fc1.weight" {
			continue
		}
		w := p.Value.Data().([]float64)
		for r := range in {
			for c := range 4 {
				w[r*4+c] = w[r*4+c]*float64(c+2) + float64(c) - 1.5
			}
		}
	}
	if after := loss(t, tr, x, y); math.Abs(after-before) > 1e-5*math.Abs(before) {
		t.Errorf("loss %v before and %v after an affine change of W's columns", before, after)
	}
}

// The hook points of the ws_linear layers capture their inputs and per-sample output
// gradients: lwca's analysis needs nothing else.
func TestHooksCapture(t *testing.T) {
	tr, x, y := fixture(t)
	tr.Hooks().Enable(true)
	if _, _, err := tr.Run(x, y, true); err != nil {
		t.Fatal(err)
	}
	if err := tr.Hooks().Complete(); err != nil {
		t.Fatal(err)
	}
	p := tr.Hooks().Point("fc1")
	if p == nil || p.X.Rows != batch || p.X.Cols != in || p.G.Cols != 4 {
		t.Fatalf("fc1 hook %+v", p)
	}
}
