package graph_test

import (
	"fmt"
	"testing"

	"github.com/lwca/lwca/graph"
)

var shortcutCases = []struct {
	h, w, in, out, stride int
}{
	{4, 4, 2, 4, 2},   // CIFAR stage change: half the size, twice the channels
	{5, 3, 2, 5, 2},   // odd sizes keep ⌈H/2⌉ rows; odd padding puts the extra channel after
	{3, 3, 3, 3, 1},   // identity
	{4, 6, 3, 3, 2},   // subsampling only
	{3, 2, 2, 6, 1},   // padding only
	{6, 6, 1, 2, 3},   // stride 3
	{2, 2, 4, 4, 1},   // identity again, tiny
	{4, 4, 16, 32, 2}, // the CIFAR widths on a small image
}

// Option-A shortcuts equal x[:, ::s, ::s, :] with channels zero-padded (Out−In)/2 before and
// the rest after, as in the PyTorch reference.
func TestShortcutAForward(t *testing.T) {
	const n = 2
	for _, c := range shortcutCases {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			dim := c.h * c.w * c.in
			net := graph.Sequential{graph.Image{H: c.h, W: c.w, C: c.in}, graph.ShortcutA{Stride: c.stride, In: c.in, Out: c.out}}
			bt := newBatch(7, n, dim, 2)
			got, shape := forward(t, net, initParams(t, net, n, dim, 1), bt.x64, n, dim)
			oh, ow := (c.h+c.stride-1)/c.stride, (c.w+c.stride-1)/c.stride
			if want := fmt.Sprint([]int{n, oh, ow, c.out}); fmt.Sprint([]int(shape)) != want {
				t.Fatalf("shape %v, want %v", shape, want)
			}
			lo := (c.out - c.in) / 2
			for b := 0; b < n; b++ {
				for i := 0; i < oh; i++ {
					for j := 0; j < ow; j++ {
						for ch := 0; ch < c.out; ch++ {
							want := 0.0
							if ch >= lo && ch < lo+c.in {
								want = bt.x64[((b*c.h+i*c.stride)*c.w+j*c.stride)*c.in+ch-lo]
							}
							if g := got[((b*oh+i)*ow+j)*c.out+ch]; g != want {
								t.Fatalf("y[%d,%d,%d,%d] = %v, want %v", b, i, j, ch, g, want)
							}
						}
					}
				}
			}
		})
	}
}

// A residual block with an option-A shortcut, and one with the identity, pass central
// differences for every parameter and for the input (through the offset).
func TestResidualGradients(t *testing.T) {
	const n, classes = 2, 3
	for _, c := range shortcutCases[:6] {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			dim := c.h * c.w * c.in
			body := graph.Sequential{
				&graph.Conv2d{Name: "conv", In: c.in, Out: c.out, KH: 3, KW: 3, Stride: c.stride, Pad: 1},
				graph.Tanh,
			}
			oh, ow := (c.h+c.stride-1)/c.stride, (c.w+c.stride-1)/c.stride
			if (c.h+2-3)/c.stride+1 != oh || (c.w+2-3)/c.stride+1 != ow {
				t.Skip("a 3×3 convolution does not give the shortcut's shape here")
			}
			net := graph.Sequential{graph.Image{H: c.h, W: c.w, C: c.in}, offset{"in"},
				graph.Residual{Body: body, Shortcut: graph.ShortcutA{Stride: c.stride, In: c.in, Out: c.out}},
				graph.Tanh, graph.Flatten{}, graph.NewLinear("fc", oh*ow*c.out, classes)}
			tr, store := newTrainer(t, net, n, dim, 3)
			randomize(store, 6, 0.4)
			checkGrads(t, tr, newBatch(8, n, dim, classes), 1e-7)
		})
	}
}

func TestResidualShapes(t *testing.T) {
	store := initParams(t, graph.Sequential{}, 1, 1, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 2)
	x := b.Input("x", 2, 4, 4, 3)
	bad := graph.Residual{Body: &graph.Conv2d{Name: "c1", In: 3, Out: 6, KH: 3, KW: 3, Stride: 2, Pad: 1}}
	if _, err := bad.Forward(b, x); err == nil {
		t.Error("identity shortcut accepted a body that changes shape")
	}
	ok := graph.Residual{Body: &graph.Conv2d{Name: "c2", In: 3, Out: 6, KH: 3, KW: 3, Stride: 2, Pad: 1},
		Shortcut: graph.ShortcutA{Stride: 2, In: 3, Out: 6}}
	y, err := ok.Forward(b, x)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(y.Shape()); got != "(2, 2, 2, 6)" {
		t.Errorf("residual shape %s, want (2, 2, 2, 6)", got)
	}
	proj := graph.Residual{Body: &graph.Conv2d{Name: "c3", In: 3, Out: 6, KH: 3, KW: 3, Stride: 2, Pad: 1},
		Shortcut: graph.NewConv2d("proj", 3, 6, 1, 2, 0)}
	if y, err = proj.Forward(b, x); err != nil || fmt.Sprint(y.Shape()) != "(2, 2, 2, 6)" {
		t.Errorf("projection shortcut: %v %v", y, err)
	}
	for _, s := range []graph.ShortcutA{{Stride: 1, In: 4, Out: 4}, {Stride: 2, In: 3, Out: 2}} {
		if _, err := s.Forward(b, x); err == nil {
			t.Errorf("%+v accepted a (2,4,4,3) input", s)
		}
	}
}
