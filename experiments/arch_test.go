package experiments

import (
	"fmt"
	"slices"
	"testing"

	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/layers"
	"github.com/lwca/lwca/nets"
)

type stackOptions struct {
	Hidden []int `yaml:"hidden"`
}

func init() {
	nets.RegisterArch("test_stack", nets.Arch{
		Options: func() any { return &stackOptions{Hidden: []int{8}} },
		Expand: func(o nets.Options, _ layers.Shape, classes int) ([]layers.Spec, error) {
			specs := []layers.Spec{layers.Of("flatten")}
			for i, w := range o.Own.(*stackOptions).Hidden {
				specs = append(specs, layers.New("linear", fmt.Sprintf("h%d", i+1), func(l *layers.LinearOptions) { l.Out = w }), layers.Of("tanh"))
			}
			return append(specs, layers.New("linear", "out", func(l *layers.LinearOptions) { l.Out = classes })), nil
		},
	})
}

// An architecture's own options, decoded from the model section, reach its Expand: the built
// network has the layers they ask for.
func TestArchitectureOwnOptionsReachExpand(t *testing.T) {
	cfg, err := config.Parse("a.yaml", []byte("data: {dataset: synthetic}\nmodel:\n  arch: test_stack\n  hidden: [5, 7]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	net, store, err := BuildModel(cfg, []int{4}, 3)
	if err != nil {
		t.Fatal(err)
	}
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 2)
	if _, err := net.Forward(b, b.Input("x", 2, 4)); err != nil {
		t.Fatal(err)
	}
	var shapes [][]int
	for _, p := range store.Params() {
		if p.Role == graph.Weight {
			shapes = append(shapes, p.Value.Shape())
		}
	}
	if !slices.EqualFunc(shapes, [][]int{{4, 5}, {5, 7}, {7, 3}}, slices.Equal) {
		t.Errorf("weights %v, want 4×5, 5×7, 7×3", shapes)
	}
}
