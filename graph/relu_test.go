package graph_test

import (
	"testing"

	"github.com/lwca/lwca/graph"
	G "gorgonia.org/gorgonia"
)

// rectified applies graph.Rectify.
type rectified struct{}

func (rectified) Forward(_ *graph.Builder, x *G.Node) (*G.Node, error) { return graph.Rectify(x) }

// Rectify's forward values are max(x, 0) and its gradient passes central differences on 2-D
// and image-shaped inputs.
func TestRectify(t *testing.T) {
	const n, classes = 3, 3
	net := graph.Sequential{graph.NewLinear("fc1", 6, 5), rectified{}, graph.NewLinear("fc2", 5, classes)}
	tr, store := newTrainer(t, net, n, 6, 1)
	randomize(store, 2, 1)
	checkGrads(t, tr, newBatch(3, n, 6, classes), 1e-7)

	img := graph.Sequential{graph.Image{H: 3, W: 2, C: 2}, offset{"in"}, rectified{}, graph.Flatten{}, graph.NewLinear("fc", 12, classes)}
	tr, store = newTrainer(t, img, n, 12, 4)
	randomize(store, 5, 1)
	checkGrads(t, tr, newBatch(6, n, 12, classes), 1e-7)

	bt := newBatch(7, n, 12, classes)
	got, _ := forward(t, graph.Sequential{rectified{}}, store, bt.x64, n, 12)
	for i, v := range bt.x64 {
		if want := max(v, 0); got[i] != want {
			t.Fatalf("relu(%v) = %v", v, got[i])
		}
	}
}
