package graph_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/lwca/lwca/graph"
)

type poolCase struct {
	name       string
	h, w, c    int
	layer      graph.Layer
	k, s       int // window and stride; 0 for the global pool
	max        bool
	oh, ow     int
	outputDims int
}

var poolCases = []poolCase{
	{"max2", 4, 6, 3, graph.MaxPool2d{Kernel: 2}, 2, 2, true, 2, 3, 4},
	{"max3s2", 5, 7, 2, graph.MaxPool2d{Kernel: 3, Stride: 2}, 3, 2, true, 2, 3, 4},
	{"avg2", 4, 5, 3, graph.AvgPool2d{Kernel: 2}, 2, 2, false, 2, 2, 4},
	{"avg3s1", 4, 4, 2, graph.AvgPool2d{Kernel: 3, Stride: 1}, 3, 1, false, 2, 2, 4},
	{"global", 3, 5, 4, graph.GlobalAvgPool{}, 0, 0, false, 1, 1, 2},
}

// Pools give the window maxima and means computed from the definition.
func TestPoolForward(t *testing.T) {
	const n = 2
	for _, c := range poolCases {
		t.Run(c.name, func(t *testing.T) {
			dim := c.h * c.w * c.c
			net := graph.Sequential{graph.Image{H: c.h, W: c.w, C: c.c}, c.layer}
			bt := newBatch(3, n, dim, 2)
			got, shape := forward(t, net, initParams(t, net, n, dim, 1), bt.x64, n, dim)
			want := []int{n, c.oh, c.ow, c.c}
			if c.outputDims == 2 {
				want = []int{n, c.c}
			}
			if fmt.Sprint([]int(shape)) != fmt.Sprint(want) {
				t.Fatalf("shape %v, want %v", shape, want)
			}
			kh, kw, s := c.k, c.k, c.s
			if c.k == 0 {
				kh, kw, s = c.h, c.w, 1
			}
			for b := 0; b < n; b++ {
				for i := 0; i < c.oh; i++ {
					for j := 0; j < c.ow; j++ {
						for ch := 0; ch < c.c; ch++ {
							acc := math.Inf(-1)
							if !c.max {
								acc = 0
							}
							for u := 0; u < kh; u++ {
								for v := 0; v < kw; v++ {
									x := bt.x64[((b*c.h+i*s+u)*c.w+j*s+v)*c.c+ch]
									if c.max {
										acc = math.Max(acc, x)
									} else {
										acc += x / float64(kh*kw)
									}
								}
							}
							if g := got[((b*c.oh+i)*c.ow+j)*c.c+ch]; !closeTo(g, acc, 1e-14) {
								t.Fatalf("y[%d,%d,%d,%d] = %v, want %v", b, i, j, ch, g, acc)
							}
						}
					}
				}
			}
		})
	}
}

// Gradients through every pool match central differences (the offset before the pool
// exposes ∂L/∂x).
func TestPoolGradients(t *testing.T) {
	const n, classes = 2, 3
	for _, c := range poolCases {
		t.Run(c.name, func(t *testing.T) {
			dim := c.h * c.w * c.c
			net := graph.Sequential{graph.Image{H: c.h, W: c.w, C: c.c}, offset{"in"}, c.layer, graph.Tanh,
				graph.Flatten{}, graph.NewLinear("fc", c.oh*c.ow*c.c, classes)}
			tr, store := newTrainer(t, net, n, dim, 2)
			randomize(store, 4, 0.3)
			checkGrads(t, tr, newBatch(5, n, dim, classes), 1e-7)
		})
	}
}

func TestPoolErrors(t *testing.T) {
	store := initParams(t, graph.Sequential{}, 1, 1, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Eval, 2)
	x4 := b.Input("x4", 2, 3, 3, 2)
	x2 := b.Input("x2", 2, 18)
	for name, l := range map[string]graph.Layer{
		"window larger than image": graph.MaxPool2d{Kernel: 4},
		"zero window":              graph.AvgPool2d{Kernel: 0},
	} {
		if _, err := l.Forward(b, x4); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for _, l := range []graph.Layer{graph.MaxPool2d{Kernel: 2}, graph.AvgPool2d{Kernel: 2}, graph.GlobalAvgPool{}} {
		if _, err := l.Forward(b, x2); err == nil {
			t.Errorf("%T accepted 2-D input", l)
		}
	}
}
