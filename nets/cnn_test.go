package nets_test

import (
	"math"
	"slices"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

func TestCNNStructure(t *testing.T) {
	spec := nets.CNNSpec{Input: [3]int{8, 8, 3}, Channels: []int{4, 8, 8}, PoolEvery: 1, Classes: 5, Norm: nets.BatchNorm}
	net, err := nets.CNN(spec)
	if err != nil {
		t.Fatal(err)
	}
	store, hooks, out := build(t, net, 2, 8*8*3)
	if !slices.Equal(hooks, []string{"conv1", "conv2", "conv3", "fc"}) {
		t.Errorf("hooks %v", hooks)
	}
	if !slices.Equal(out, []int{2, 5}) {
		t.Errorf("logits %v", out)
	}
	// 8×8 → 4×4 → 2×2 → 1×1 after three pools: the classifier sees 8 features.
	if w := store.Param("fc.weight"); w == nil || !slices.Equal(w.Value.Shape(), []int{8, 5}) {
		t.Errorf("fc weight %v", w)
	}
	pools := 0
	for _, l := range net {
		if _, ok := l.(graph.MaxPool2d); ok {
			pools++
		}
	}
	if pools != 3 || store.Param("bn2.scale") == nil || store.Param("conv1.bias") != nil {
		t.Errorf("%d pools, parameters %v", pools, names(store))
	}
	spec.Norm, spec.Bias, spec.PoolEvery = nets.NoNorm, true, 2
	if net, err = nets.CNN(spec); err != nil {
		t.Fatal(err)
	}
	store, _, _ = build(t, net, 2, 8*8*3)
	if store.Param("bn1.scale") != nil || store.Param("conv1.bias") == nil {
		t.Errorf("plain CNN parameters %v", names(store))
	}
	if w := store.Param("fc.weight"); !slices.Equal(w.Value.Shape(), []int{4 * 4 * 8, 5}) {
		t.Errorf("one pool: fc weight %v", w.Value.Shape())
	}
	for _, bad := range []nets.CNNSpec{
		{Input: [3]int{8, 8, 3}, Classes: 5},
		{Input: [3]int{8, 8, 3}, Channels: []int{4, 0}, Classes: 5},
		{Input: [3]int{8, 8, 3}, Channels: []int{4}, Classes: 5, Norm: "layer"},
		{Input: [3]int{0, 8, 3}, Channels: []int{4}, Classes: 5},
	} {
		if _, err := nets.CNN(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// Both CNN forms learn a fixed batch; without BatchNorm the evaluation program (forward only,
// no hooks) gives exactly the training program's loss, which checks the evaluation path of
// convolutions and pools.
func TestCNNTrainsAndEvaluates(t *testing.T) {
	for _, norm := range []nets.Norm{nets.NoNorm, nets.BatchNorm} {
		spec := nets.CNNSpec{Input: [3]int{8, 8, 3}, Channels: []int{8, 16}, Classes: 10, Norm: norm, Bias: norm == nets.NoNorm}
		net, err := nets.CNN(spec)
		if err != nil {
			t.Fatal(err)
		}
		losses := fitBatch(t, net, tensor.Float32, 16, 8*8*3, 20, 0.02)
		if last := losses[len(losses)-1]; math.IsNaN(last) || last > 0.5*losses[0] {
			t.Errorf("%s: loss %.3f → %.3f", norm, losses[0], last)
		}
	}
	net, _ := nets.CNN(nets.CNNSpec{Input: [3]int{6, 6, 2}, Channels: []int{4}, Classes: 3, Bias: true})
	store := graph.NewStore(tensor.Float64, 2)
	tr, err := train.NewTrainer(net, store, 4, 72)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := train.NewEvaluator(net, store, 3, 72)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 4*72)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	y := []int32{0, 1, 2, 1}
	loss, _, err := tr.Run(x, y, false)
	if err != nil {
		t.Fatal(err)
	}
	evLoss, _, err := ev.Evaluate(x, y) // two batches of 3, the second padded
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(loss-evLoss) > 1e-12 {
		t.Errorf("training loss %v, evaluation loss %v", loss, evLoss)
	}
}
