package train

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"gorgonia.org/tensor"
)

// Selecting layers leaves the others without captures and the selected ones with exactly
// the captures of an unrestricted run; linear taps and the fused convolution obey it alike.
func TestHookSelection(t *testing.T) {
	mlp, err := nets.MLP(nets.MLPSpec{Input: 5, Depth: 3, Width: 4, Classes: 3, Bias: true, Activation: graph.ReLU})
	if err != nil {
		t.Fatal(err)
	}
	resnet, err := nets.ResNet(nets.ResNetSpec{Depth: 8, Input: [3]int{6, 6, 2}, Classes: 3, Widths: [3]int{2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		net    graph.Layer
		dim    int
		chosen []string
	}{
		{"mlp", mlp, 5, []string{"fc2"}},
		{"resnet", resnet, 6 * 6 * 2, []string{"stage2.block1.conv1", "fc"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const batch = 4
			rng := rand.New(rand.NewPCG(1, 2))
			x := make([]float32, batch*c.dim)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			y := []int32{0, 1, 2, 1}
			capture := func(selection []string) map[string][2][]float64 {
				tr, err := NewTrainer(c.net, graph.NewStore(tensor.Float64, 5), batch, c.dim)
				if err != nil {
					t.Fatal(err)
				}
				if err := tr.Hooks().Select(selection); err != nil {
					t.Fatal(err)
				}
				if _, _, err := tr.Run(x, y, true); err != nil {
					t.Fatal(err)
				}
				if err := tr.Hooks().Complete(); err != nil {
					t.Fatal(err)
				}
				out := map[string][2][]float64{}
				for _, p := range tr.Hooks().Points() {
					if p.X.Valid() || p.G.Valid() {
						out[p.Layer] = [2][]float64{slices.Clone(p.X.F64), slices.Clone(p.G.F64)}
					}
				}
				return out
			}
			all := capture(nil)
			some := capture(c.chosen)
			if len(all) < 3 {
				t.Fatalf("an unrestricted run captured only %d layers", len(all))
			}
			if len(some) != len(c.chosen) {
				t.Fatalf("selection %v captured %d layers", c.chosen, len(some))
			}
			for _, l := range c.chosen {
				got, want := some[l], all[l]
				if len(want[0]) == 0 || !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
					t.Fatalf("%s: captures differ from the unrestricted run's", l)
				}
			}
		})
	}
	tr, err := NewTrainer(mlp, graph.NewStore(tensor.Float64, 5), 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Hooks().Select([]string{"fc9"}); err == nil || !strings.Contains(err.Error(), `"fc9"`) {
		t.Fatalf("unknown layer: error %v", err)
	}
}
