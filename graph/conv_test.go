package graph_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lwca/lwca/graph"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convCase is a small convolution and the image it runs on.
type convCase struct {
	h, w  int
	layer graph.Conv2d
}

var convCases = []convCase{
	{5, 6, graph.Conv2d{Name: "conv", In: 3, Out: 4, KH: 3, KW: 3, Stride: 1, Pad: 1, Bias: true}},
	{5, 6, graph.Conv2d{Name: "conv", In: 2, Out: 3, KH: 3, KW: 3, Stride: 2, Pad: 1}},
	{6, 5, graph.Conv2d{Name: "conv", In: 3, Out: 2, KH: 2, KW: 3, Stride: 2, Pad: 0, Bias: true}},
	{4, 4, graph.Conv2d{Name: "conv", In: 3, Out: 5, KH: 1, KW: 1, Stride: 1, Pad: 0, Bias: true}},
	{5, 5, graph.Conv2d{Name: "conv", In: 2, Out: 3, KH: 1, KW: 1, Stride: 2, Pad: 0}},
	{3, 4, graph.Conv2d{Name: "conv", In: 2, Out: 3, KH: 3, KW: 3, Stride: 1, Pad: 2}},
	{3, 4, graph.Conv2d{Name: "conv", In: 8, Out: 2, KH: 3, KW: 3, Stride: 1, Pad: 1}}, // rows of ≥ 16 values
	{5, 4, graph.Conv2d{Name: "conv", In: 2, Out: 3, KH: 3, KW: 3, Stride: 1, Pad: 0}},
	{6, 5, graph.Conv2d{Name: "conv", In: 2, Out: 2, KH: 5, KW: 5, Stride: 1, Pad: 2, Bias: true}},
}

func (c convCase) String() string {
	l := c.layer
	return fmt.Sprintf("%dx%dx%d_k%dx%d_s%d_p%d_bias%v", c.h, c.w, l.In, l.KH, l.KW, l.Stride, l.Pad, l.Bias)
}

func (c convCase) out() (int, int) {
	l := c.layer
	return (c.h+2*l.Pad-l.KH)/l.Stride + 1, (c.w+2*l.Pad-l.KW)/l.Stride + 1
}

// patch returns the input values the kernel sees at output (b, i, j), in weight-row order
// (u, v, c), zeros outside the image: written from the definition, not from im2col.
func (c convCase) patch(x []float64, b, i, j int) []float64 {
	l := c.layer
	var p []float64
	for u := 0; u < l.KH; u++ {
		for v := 0; v < l.KW; v++ {
			for ch := 0; ch < l.In; ch++ {
				ih, iw := i*l.Stride-l.Pad+u, j*l.Stride-l.Pad+v
				val := 0.0
				if ih >= 0 && ih < c.h && iw >= 0 && iw < c.w {
					val = x[((b*c.h+ih)*c.w+iw)*l.In+ch]
				}
				p = append(p, val)
			}
		}
	}
	return p
}

// The convolution's output equals the direct sum over kernel offsets and channels.
func TestConvForwardMatchesDirectSum(t *testing.T) {
	restore := graph.SetConvBlockBytes(1)
	defer restore()
	const n = 3
	for _, c := range convCases {
		t.Run(c.String(), func(t *testing.T) {
			l := c.layer
			dim := c.h * c.w * l.In
			net := graph.Sequential{graph.Image{H: c.h, W: c.w, C: l.In}, &l}
			store := initParams(t, net, n, dim, 4)
			randomize(store, 3, 0.5)
			bt := newBatch(1, n, dim, 2)
			got, shape := forward(t, net, store, bt.x64, n, dim)
			oh, ow := c.out()
			if want := fmt.Sprint([]int{n, oh, ow, l.Out}); fmt.Sprint([]int(shape)) != want {
				t.Fatalf("output shape %v, want %v", shape, want)
			}
			w := param(t, store, "conv.weight")
			for b := 0; b < n; b++ {
				for i := 0; i < oh; i++ {
					for j := 0; j < ow; j++ {
						p := c.patch(bt.x64, b, i, j)
						for o := 0; o < l.Out; o++ {
							want := 0.0
							if l.Bias {
								want = param(t, store, "conv.bias")[o]
							}
							for r, v := range p {
								want += v * w[r*l.Out+o]
							}
							if g := got[((b*oh+i)*ow+j)*l.Out+o]; !closeTo(g, want, 1e-12) {
								t.Fatalf("h[%d,%d,%d,%d] = %v, direct sum %v", b, i, j, o, g, want)
							}
						}
					}
				}
			}
		})
	}
}

// The hook of a convolution records exactly the K-FAC factors' inputs: in patches mode the
// patch matrix (one row per sample and output position) and in channels mode the input pixels;
// the Σx computed from the capture equals the brute-force average of outer products; and the
// captured G is N·∂L/∂h, which the gradient of an offset added to h gives independently.
func TestConvCapturesFactors(t *testing.T) {
	restore := graph.SetConvBlockBytes(1)
	defer restore()
	const n, classes = 3, 3
	for _, c := range convCases {
		for _, mode := range []graph.ConvMode{graph.Patches, graph.Channels} {
			t.Run(c.String()+"_"+string(mode), func(t *testing.T) {
				l := c.layer
				l.Mode = mode
				oh, ow := c.out()
				dim := c.h * c.w * l.In
				net := graph.Sequential{graph.Image{H: c.h, W: c.w, C: l.In}, &l, offset{"probe"}, graph.Tanh,
					graph.Flatten{}, graph.NewLinear("fc", oh*ow*l.Out, classes)}
				tr, store := newTrainer(t, net, n, dim, 2)
				randomize(store, 7, 0.5)
				bt := newBatch(2, n, dim, classes)
				if _, _, err := tr.Run(bt.x, bt.y, true); err != nil {
					t.Fatal(err)
				}
				p := tr.Hooks().Point("conv")
				if err := tr.Hooks().Complete(); err != nil {
					t.Fatal(err)
				}
				// Brute-force rows of X and the average of their outer products.
				var rows [][]float64
				if mode == graph.Patches {
					for b := 0; b < n; b++ {
						for i := 0; i < oh; i++ {
							for j := 0; j < ow; j++ {
								rows = append(rows, c.patch(bt.x64, b, i, j))
							}
						}
					}
				} else {
					for r := 0; r < n*c.h*c.w; r++ {
						rows = append(rows, bt.x64[r*l.In:(r+1)*l.In])
					}
				}
				d := len(rows[0])
				if p.X.Rows != len(rows) || p.X.Cols != d {
					t.Fatalf("captured X is %d×%d, want %d×%d", p.X.Rows, p.X.Cols, len(rows), d)
				}
				for r, row := range rows {
					for k, v := range row {
						if got := p.X.F64[r*d+k]; got != v {
							t.Fatalf("X[%d,%d] = %v, want %v", r, k, got, v)
						}
					}
				}
				for a := 0; a < d; a++ {
					for b := 0; b < d; b++ {
						fromCapture, brute := 0.0, 0.0
						for r := 0; r < p.X.Rows; r++ {
							fromCapture += p.X.F64[r*d+a] * p.X.F64[r*d+b]
						}
						for _, row := range rows {
							brute += row[a] * row[b]
						}
						fromCapture /= float64(p.X.Rows)
						brute /= float64(len(rows))
						if !closeTo(fromCapture, brute, 1e-13) {
							t.Fatalf("Σx[%d,%d] = %v from the capture, %v brute force", a, b, fromCapture, brute)
						}
					}
				}
				// G: N times the gradient of the probe, the same NHWC order as the rows.
				if p.G.Rows != n*oh*ow || p.G.Cols != l.Out {
					t.Fatalf("captured G is %d×%d, want %d×%d", p.G.Rows, p.G.Cols, n*oh*ow, l.Out)
				}
				var probe []float64
				for i, prm := range tr.Params() {
					if prm.Name == "probe.offset" {
						g, _ := tr.Grad(i)
						probe = g.Float64s()
					}
				}
				for i, v := range probe {
					if got := p.G.F64[i]; !closeTo(got, n*v, 1e-12) {
						t.Fatalf("G[%d] = %v, want N·∂L/∂h = %v", i, got, n*v)
					}
				}
			})
		}
	}
}

// Every gradient through a convolution (input, weight, bias, and the output seen through an
// offset) matches central differences of the loss, with patch blocks of one image so that
// blocking, several workers and the capture path are all exercised.
func TestConvGradients(t *testing.T) {
	const n, classes = 3, 3
	for bi, block := range []int{1, 1 << 30} {
		restore := graph.SetConvBlockBytes(block)
		for i, c := range convCases {
			// Every case meets both arrangements of the products, one per block size.
			blas := blasKinds[(i+bi)%len(blasKinds)]
			restoreBLAS := blas.use()
			t.Run(fmt.Sprintf("%v_block%d_%s", c, block, blas.name), func(t *testing.T) {
				l := c.layer
				oh, ow := c.out()
				dim := c.h * c.w * l.In
				net := graph.Sequential{graph.Image{H: c.h, W: c.w, C: l.In}, offset{"in"}, &l, offset{"probe"}, graph.Tanh,
					graph.Flatten{}, graph.NewLinear("fc", oh*ow*l.Out, classes)}
				tr, store := newTrainer(t, net, n, dim, 3)
				randomize(store, 8, 0.4)
				bt := newBatch(4, n, dim, classes)
				checkGrads(t, tr, bt, 1e-7)
				// A capturing run computes the weight gradient from the captured patches
				// instead of rebuilding them: the result must not change.
				_, plain := gradsOf(t, tr, bt, false)
				_, captured := gradsOf(t, tr, bt, true)
				for i := range plain {
					for j := range plain[i] {
						if !closeTo(captured[i][j], plain[i][j], 1e-12) {
							t.Fatalf("%s[%d]: %v with capture, %v without", tr.Params()[i].Name, j, captured[i][j], plain[i][j])
						}
					}
				}
			})
			restoreBLAS()
		}
		restore()
	}
}

// A stride-1 convolution's input gradient, computed as the adjoint convolution of ∂L/∂h, equals
// the one computed by scattering ∂L/∂h·Wᵀ back with col2im, for both arrangements of the
// products and with several patch blocks per worker. The input gradient is read through an
// offset parameter on the input of a one-sample batch, so it is seen element by element.
func TestConvInputGradientRoutesAgree(t *testing.T) {
	cases := []convCase{
		{7, 6, graph.Conv2d{Name: "conv", In: 16, Out: 8, KH: 3, KW: 3, Stride: 1, Pad: 1}},
		{5, 6, graph.Conv2d{Name: "conv", In: 3, Out: 20, KH: 3, KW: 3, Stride: 1, Pad: 0}},
		{6, 6, graph.Conv2d{Name: "conv", In: 4, Out: 3, KH: 5, KW: 5, Stride: 1, Pad: 1}},
	}
	defer graph.SetConvBlockBytes(1)()
	for _, c := range cases {
		for _, blas := range blasKinds {
			t.Run(fmt.Sprintf("%v_%s", c, blas.name), func(t *testing.T) {
				defer blas.use()()
				l := c.layer
				oh, ow := c.out()
				dim := c.h * c.w * l.In
				net := graph.Sequential{graph.Image{H: c.h, W: c.w, C: l.In}, offset{"in"}, &l, graph.Tanh,
					graph.Flatten{}, graph.NewLinear("fc", oh*ow*l.Out, 3)}
				tr, store := newTrainer(t, net, 1, dim, 5)
				randomize(store, 9, 0.5)
				bt := newBatch(6, 1, dim, 3)
				_, adjoint := gradsOf(t, tr, bt, false)
				restore := graph.SetAdjointDataGrad(false)
				_, scatter := gradsOf(t, tr, bt, false)
				restore()
				if tr.Params()[0].Name != "in.offset" {
					t.Fatalf("first parameter is %s, expected the input offset", tr.Params()[0].Name)
				}
				nonzero := 0
				for j, want := range scatter[0] {
					if !closeTo(adjoint[0][j], want, 1e-12) {
						t.Fatalf("∂L/∂x[%d] = %v by the adjoint convolution, %v by col2im", j, adjoint[0][j], want)
					}
					if want != 0 {
						nonzero++
					}
				}
				if nonzero < dim/2 {
					t.Fatalf("only %d of %d input-gradient entries are non-zero", nonzero, dim)
				}
			})
		}
	}
}

// blasKinds are the two arrangements of the convolution's products: gonum's kernels get
// products with long result rows, any other BLAS (OpenBLAS) the plain ones. A gonum
// implementation wrapped in another type stands for the latter.
var blasKinds = []struct {
	name string
	use  func() (restore func())
}{
	{"gonum", func() func() { return useBLAS(gonum.Implementation{}) }},
	{"other", func() func() { return useBLAS(wrappedBLAS{}) }},
}

type wrappedBLAS struct{ gonum.Implementation }

func useBLAS(impl interface {
	blas.Float32
	blas.Float64
}) (restore func()) {
	old32, old64 := blas32.Implementation(), blas64.Implementation()
	blas32.Use(impl)
	blas64.Use(impl)
	return func() { blas32.Use(old32); blas64.Use(old64) }
}

// A convolution fed straight from the data does not form ∂L/∂x (no such node is built), yet
// trains like one that does: its gradients match finite differences. Behind a parameter the
// input gradient is built.
func TestConvOnDataSkipsInputGradient(t *testing.T) {
	const n, classes = 2, 3
	c := convCases[0]
	l := c.layer
	oh, ow := c.out()
	dim := c.h * c.w * l.In
	head := graph.Sequential{graph.Tanh, graph.Flatten{}, graph.NewLinear("fc", oh*ow*l.Out, classes)}
	for _, withOffset := range []bool{false, true} {
		net := graph.Sequential{graph.Image{H: c.h, W: c.w, C: l.In}}
		if withOffset {
			net = append(net, offset{"in"})
		}
		net = append(net, &l, head)
		store := graph.NewStore(tensor.Float64, 5)
		g := graph.NewExprGraph()
		b := graph.NewBuilder(g, store, graph.Train, n)
		logits, err := net.Forward(b, b.Input("x", n, dim))
		if err != nil {
			t.Fatal(err)
		}
		loss, _, err := graph.SoftmaxCrossEntropy(logits)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := G.Grad(loss, b.ParamNodes()...); err != nil {
			t.Fatal(err)
		}
		built := false
		for _, node := range g.AllNodes() {
			if op := node.Op(); op != nil && strings.Contains(op.String(), "conv.dx(conv)") {
				built = true
			}
		}
		if built != withOffset {
			t.Errorf("offset %v: input-gradient op built: %v", withOffset, built)
		}
		tr, store := newTrainer(t, net, n, dim, 5)
		randomize(store, 9, 0.4)
		checkGrads(t, tr, newBatch(6, n, dim, classes), 1e-7)
	}
}

func TestConvErrors(t *testing.T) {
	store := graph.NewStore(tensor.Float64, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 2)
	x := b.Input("x", 2, 4, 4, 3)
	for _, l := range []graph.Conv2d{
		{Name: "wrong_in", In: 2, Out: 4, KH: 3, KW: 3},
		{Name: "too_big", In: 3, Out: 4, KH: 7, KW: 3, Pad: 1},
		{Name: "mode", In: 3, Out: 4, KH: 3, KW: 3, Mode: "pixels"},
		{Name: "zero_out", In: 3, Out: 0, KH: 3, KW: 3},
	} {
		if _, err := l.Forward(b, x); err == nil {
			t.Errorf("%s: no error", l.Name)
		}
	}
	if _, err := graph.NewConv2d("flat", 3, 4, 3, 1, 1).Forward(b, b.Input("flat_x", 2, 48)); err == nil {
		t.Error("2-D input accepted")
	}
}
