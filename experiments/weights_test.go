package experiments

import (
	"math"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// A grouped convolution's records carry the norms of their own group's weights: the column
// block of the layer's weight that the group's outputs use, whose squared norms add up to the
// whole weight's.
func TestWeightBlocksOfGroupedConvolution(t *testing.T) {
	net := graph.Sequential{graph.Image{H: 4, W: 4, C: 4},
		&graph.Conv2d{Name: "dw", In: 4, Out: 8, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 4, Init: graph.HeNormal},
		graph.Flatten{}, graph.NewLinear("fc", 4*4*8, 2)}
	store := graph.NewStore(tensor.Float64, 1)
	tr, err := train.NewTrainer(net, store, 2, 4*4*4)
	if err != nil {
		t.Fatal(err)
	}
	blocks := weightBlocks(tr.Params(), tr.Hooks().Points())
	var values []*tensor.Dense
	for _, p := range tr.Params() {
		values = append(values, p.Value)
	}
	w := store.Param("dw.weight").Value
	data := w.Data().([]float64)
	cols := w.Shape()[1]
	sum := 0.0
	for k := 1; k <= 4; k++ {
		name := "dw.g" + string(rune('0'+k))
		b, ok := blocks[name]
		if !ok {
			t.Fatalf("no weight for %s in %v", name, blocks)
		}
		got := frobenius(b.of(values))
		want := 0.0
		for r := range w.Shape()[0] {
			for c := (k - 1) * 2; c < k*2; c++ {
				want += data[r*cols+c] * data[r*cols+c]
			}
		}
		if math.Abs(got-math.Sqrt(want)) > 1e-12 {
			t.Errorf("%s: norm %v, want %v", name, got, math.Sqrt(want))
		}
		sum += got * got
	}
	if math.Abs(math.Sqrt(sum)-frobenius(w)) > 1e-12 {
		t.Errorf("group norms add up to %v, the weight's is %v", math.Sqrt(sum), frobenius(w))
	}
	if b := blocks["fc"]; b.groups != 0 || b.of(values) != store.Param("fc.weight").Value {
		t.Errorf("fc block %+v", b)
	}
}
