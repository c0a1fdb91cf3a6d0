package graph_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

var groupCases = []convCase{
	{5, 6, graph.Conv2d{Name: "conv", In: 4, Out: 6, KH: 3, KW: 3, Stride: 1, Pad: 1, Bias: true, Groups: 2}},
	{5, 5, graph.Conv2d{Name: "conv", In: 3, Out: 3, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 3}},             // depthwise
	{4, 5, graph.Conv2d{Name: "conv", In: 2, Out: 4, KH: 2, KW: 3, Stride: 1, Pad: 0, Bias: true, Groups: 2}}, // depth multiplier 2
	{4, 4, graph.Conv2d{Name: "conv", In: 6, Out: 4, KH: 1, KW: 1, Stride: 1, Pad: 0, Groups: 2}},
	{6, 6, graph.Conv2d{Name: "conv", In: 16, Out: 16, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 16}}, // direct kernel in float32
}

func groupName(c convCase) string { return fmt.Sprintf("%v_g%d", c, c.layer.Groups) }

// groupPatch is the patch of group k (0-based) at output (b, i, j): the definition's patch
// restricted to the group's input channels, in weight-row order (u, v, c).
func groupPatch(c convCase, x []float64, b, i, j, k int) []float64 {
	l := c.layer
	cg := l.In / l.Groups
	full := c.patch(x, b, i, j)
	var p []float64
	for r := 0; r < l.KH*l.KW; r++ {
		p = append(p, full[r*l.In+k*cg:r*l.In+(k+1)*cg]...)
	}
	return p
}

// A grouped convolution's output equals the direct sum over kernel offsets and the group's
// input channels, with W's column o holding output channel o's weights over its group.
func TestGroupConvForwardMatchesDirectSum(t *testing.T) {
	defer graph.SetConvBlockBytes(1)()
	const n = 2
	for _, c := range groupCases {
		t.Run(groupName(c), func(t *testing.T) {
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
			og := l.Out / l.Groups
			for b := 0; b < n; b++ {
				for i := 0; i < oh; i++ {
					for j := 0; j < ow; j++ {
						for o := 0; o < l.Out; o++ {
							want := 0.0
							if l.Bias {
								want = param(t, store, "conv.bias")[o]
							}
							for r, v := range groupPatch(c, bt.x64, b, i, j, o/og) {
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

// Every group has its own hook point, <layer>.g<k>, whose X is the group's patch matrix
// and whose G is N·∂L/∂h on the group's output channels; the weight gradient of group k's
// columns is X_kᵀG_k/N, the sum of the per-sample outer products; and every gradient matches
// central differences, captured or not.
func TestGroupConvCapturesAndGradients(t *testing.T) {
	const n, classes = 3, 3
	for _, mode := range []graph.ConvMode{graph.Patches, graph.Channels} {
		for _, c := range groupCases {
			t.Run(groupName(c)+"_"+string(mode), func(t *testing.T) {
				l := c.layer
				l.Mode = mode
				oh, ow := c.out()
				dim := c.h * c.w * l.In
				net := graph.Sequential{graph.Image{H: c.h, W: c.w, C: l.In}, offset{"in"}, &l, offset{"probe"}, graph.Tanh,
					graph.Flatten{}, graph.NewLinear("fc", oh*ow*l.Out, classes)}
				tr, store := newTrainer(t, net, n, dim, 3)
				randomize(store, 8, 0.4)
				bt := newBatch(4, n, dim, classes)
				_, plain := gradsOf(t, tr, bt, false)
				_, grads := gradsOf(t, tr, bt, true)
				if err := tr.Hooks().Complete(); err != nil {
					t.Fatal(err)
				}
				if len(tr.Hooks().Points()) != l.Groups+1 {
					t.Fatalf("%d hook points, want one per group and the classifier's", len(tr.Hooks().Points()))
				}
				byName := map[string][]float64{}
				for i, p := range tr.Params() {
					byName[p.Name] = grads[i]
					for j := range grads[i] {
						if !closeTo(grads[i][j], plain[i][j], 1e-12) {
							t.Fatalf("%s[%d]: %v with capture, %v without", p.Name, j, grads[i][j], plain[i][j])
						}
					}
				}
				// The image with the offset added is what the convolution sees.
				x := append([]float64(nil), bt.x64...)
				for i, v := range param(t, store, "in.offset") {
					x[i] += v
				}
				cg, og := l.In/l.Groups, l.Out/l.Groups
				for k := 0; k < l.Groups; k++ {
					p := tr.Hooks().Point(fmt.Sprintf("conv.g%d", k+1))
					if p == nil {
						t.Fatalf("no hook point conv.g%d", k+1)
					}
					var rows [][]float64
					if mode == graph.Patches {
						for b := 0; b < n; b++ {
							for i := 0; i < oh; i++ {
								for j := 0; j < ow; j++ {
									rows = append(rows, groupPatch(c, x, b, i, j, k))
								}
							}
						}
					} else {
						for r := 0; r < n*c.h*c.w; r++ {
							rows = append(rows, x[r*l.In+k*cg:r*l.In+(k+1)*cg])
						}
					}
					d := len(rows[0])
					if p.X.Rows != len(rows) || p.X.Cols != d || p.G.Rows != n*oh*ow || p.G.Cols != og {
						t.Fatalf("group %d: X %d×%d, G %d×%d", k+1, p.X.Rows, p.X.Cols, p.G.Rows, p.G.Cols)
					}
					for r, row := range rows {
						for a, v := range row {
							if got := p.X.F64[r*d+a]; !closeTo(got, v, 1e-15) {
								t.Fatalf("group %d: X[%d,%d] = %v, want %v", k+1, r, a, got, v)
							}
						}
					}
					probe := byName["probe.offset"]
					for r := 0; r < n*oh*ow; r++ {
						for o := 0; o < og; o++ {
							want := n * probe[r*l.Out+k*og+o]
							if got := p.G.F64[r*og+o]; !closeTo(got, want, 1e-12) {
								t.Fatalf("group %d: G[%d,%d] = %v, want N·∂L/∂h = %v", k+1, r, o, got, want)
							}
						}
					}
					if mode != graph.Patches {
						continue
					}
					dw := byName["conv.weight"]
					for a := 0; a < d; a++ {
						for o := 0; o < og; o++ {
							want := 0.0
							for r := 0; r < p.X.Rows; r++ {
								want += p.X.F64[r*d+a] * p.G.F64[r*og+o]
							}
							want /= n
							if got := dw[a*l.Out+k*og+o]; !closeTo(got, want, 1e-12) {
								t.Fatalf("group %d: ∂L/∂W[%d,%d] = %v, X_kᵀG_k/N = %v", k+1, a, k*og+o, got, want)
							}
						}
					}
				}
				if dim <= 200 { // the large case is there for the float32 kernels
					checkGrads(t, tr, bt, 1e-7)
				}
			})
		}
	}
}

// Float32 graphs, which take the direct kernels where they apply, agree with float64 in the
// output and the parameter gradients.
func TestGroupConvFloat32(t *testing.T) {
	const n, classes = 4, 3
	for _, c := range groupCases {
		t.Run(groupName(c), func(t *testing.T) {
			l := c.layer
			oh, ow := c.out()
			dim := c.h * c.w * l.In
			net := graph.Sequential{graph.Image{H: c.h, W: c.w, C: l.In}, offset{"in"}, &l, graph.Tanh,
				graph.Flatten{}, graph.NewLinear("fc", oh*ow*l.Out, classes)}
			tr64, s64 := newTrainer(t, net, n, dim, 3)
			randomize(s64, 8, 0.4)
			s32 := graph.NewStore(tensor.Float32, 3)
			tr32, err := train.NewTrainer(net, s32, n, dim)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range s32.Params() {
				for j, v := range s64.Params()[i].Value.Float64s() {
					p.Value.Float32s()[j] = float32(v)
				}
			}
			bt := newBatch(4, n, dim, classes)
			l64, g64 := gradsOf(t, tr64, bt, false)
			l32, _, err := tr32.Run(bt.x, bt.y, false)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(l32-l64) > 1e-5 {
				t.Fatalf("loss %v in float32, %v in float64", l32, l64)
			}
			for i := range tr32.Params() {
				g, _ := tr32.Grad(i)
				for j, v := range g.Float32s() {
					if math.Abs(float64(v)-g64[i][j]) > 1e-4 {
						t.Fatalf("%s[%d] = %v in float32, %v in float64", tr32.Params()[i].Name, j, v, g64[i][j])
					}
				}
			}
		})
	}
}

func TestGroupConvErrors(t *testing.T) {
	store := graph.NewStore(tensor.Float64, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 2)
	x := b.Input("x", 2, 4, 4, 6)
	for _, l := range []graph.Conv2d{
		{Name: "in", In: 6, Out: 8, KH: 3, KW: 3, Groups: 4},
		{Name: "out", In: 6, Out: 4, KH: 3, KW: 3, Groups: 3},
		{Name: "neg", In: 6, Out: 6, KH: 3, KW: 3, Groups: -1},
	} {
		if _, err := l.Forward(b, x); err == nil {
			t.Errorf("%s: no error", l.Name)
		}
	}
}

// Depthwise convolutions (one input channel per group) take direct loops over channel vectors
// on steps that capture nothing; the per-group patch route gives the same loss and gradients.
func TestDepthwiseRoutesAgree(t *testing.T) {
	const n, classes = 3, 3
	for _, c := range groupCases {
		if c.layer.In != c.layer.Groups {
			continue
		}
		t.Run(groupName(c), func(t *testing.T) {
			l := c.layer
			oh, ow := c.out()
			dim := c.h * c.w * l.In
			net := graph.Sequential{graph.Image{H: c.h, W: c.w, C: l.In}, offset{"in"}, &l, graph.Tanh,
				graph.Flatten{}, graph.NewLinear("fc", oh*ow*l.Out, classes)}
			tr, store := newTrainer(t, net, n, dim, 3)
			randomize(store, 8, 0.4)
			bt := newBatch(4, n, dim, classes)
			loss, direct := gradsOf(t, tr, bt, false)
			restore := graph.SetDepthwiseDirect(false)
			lossGroups, groups := gradsOf(t, tr, bt, false)
			restore()
			if !closeTo(loss, lossGroups, 1e-13) {
				t.Fatalf("loss %v by the direct loops, %v by groups", loss, lossGroups)
			}
			for i := range direct {
				for j := range direct[i] {
					if !closeTo(direct[i][j], groups[i][j], 1e-12) {
						t.Fatalf("%s[%d] = %v by the direct loops, %v by groups", tr.Params()[i].Name, j, direct[i][j], groups[i][j])
					}
				}
			}
		})
	}
}

func ExampleConv2d_groups() {
	net := graph.Sequential{
		graph.Image{H: 8, W: 8, C: 4},
		&graph.Conv2d{Name: "dw", In: 4, Out: 4, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 4}, // depthwise
		&graph.Conv2d{Name: "pw", In: 4, Out: 6, KH: 1, KW: 1, Stride: 1, Groups: 2},
		graph.GELU,
	}
	store := graph.NewStore(tensor.Float32, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 2)
	y, err := net.Forward(b, b.Input("x", 2, 8*8*4))
	if err != nil {
		panic(err)
	}
	fmt.Println(y.Shape())
	for _, p := range store.Params() {
		fmt.Println(p.Name, p.Value.Shape())
	}
	for _, h := range b.Hooks.Points() {
		fmt.Print(h.Layer, " ")
	}
	fmt.Println()
	// Output:
	// (2, 8, 8, 6)
	// dw.weight (9, 4)
	// pw.weight (2, 6)
	// dw.g1 dw.g2 dw.g3 dw.g4 pw.g1 pw.g2
}
