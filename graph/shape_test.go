package graph_test

import (
	"fmt"
	"testing"

	"github.com/lwca/lwca/graph"
)

func TestImageAndFlatten(t *testing.T) {
	store := initParams(t, graph.Sequential{}, 1, 1, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Eval, 2)
	x := b.Input("x", 2, 24)
	img, err := graph.Image{H: 2, W: 4, C: 3}.Forward(b, x)
	if err != nil || fmt.Sprint(img.Shape()) != "(2, 2, 4, 3)" {
		t.Fatalf("image: %v %v", img, err)
	}
	if same, err := (graph.Image{H: 2, W: 4, C: 3}).Forward(b, img); err != nil || same != img {
		t.Errorf("image of an image: %v %v", same, err)
	}
	flat, err := graph.Flatten{}.Forward(b, img)
	if err != nil || fmt.Sprint(flat.Shape()) != "(2, 24)" {
		t.Errorf("flatten: %v %v", flat, err)
	}
	if same, err := (graph.Flatten{}).Forward(b, x); err != nil || same != x {
		t.Errorf("flatten of a matrix: %v %v", same, err)
	}
	for _, l := range []graph.Image{{H: 2, W: 4, C: 2}, {H: 0, W: 4, C: 3}} {
		if _, err := l.Forward(b, x); err == nil {
			t.Errorf("%+v accepted 24 values per row", l)
		}
	}
	// Values keep their channels-last order: image[b, i, j, c] = row b at (i·W + j)·C + c.
	bt := newBatch(1, 2, 24, 2)
	got, _ := forward(t, graph.Sequential{graph.Image{H: 2, W: 4, C: 3}, graph.Flatten{}}, store, bt.x64, 2, 24)
	for i, v := range bt.x64 {
		if got[i] != v {
			t.Fatalf("value %d moved: %v, want %v", i, got[i], v)
		}
	}
}
