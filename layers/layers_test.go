package layers_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/layers"
	"gorgonia.org/tensor"
)

func conv(name string, out, stride int) layers.Spec {
	return layers.New("conv2d", name, func(o *layers.Conv2dOptions) { o.Out, o.Stride, o.Bias = out, stride, false })
}

func bn(name string) layers.Spec { return layers.New[struct{}]("batchnorm", name, nil) }

func linear(name string, out int) layers.Spec {
	return layers.New("linear", name, func(o *layers.LinearOptions) { o.Out = out })
}

// hooks builds net into a training graph and returns its hook points' names, its parameter
// names and its output shape.
func hooks(t *testing.T, net graph.Layer, in layers.Shape) (points, params []string, out []int) {
	t.Helper()
	store := graph.NewStore(tensor.Float64, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 2)
	y, err := net.Forward(b, b.Input("x", 2, in.Size()))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range b.Hooks.Points() {
		points = append(points, p.Layer)
	}
	for _, p := range store.Params() {
		params = append(params, p.Name)
	}
	return points, params, y.Shape()
}

// Shapes are inferred from layer to layer: the graph built from the specs has the shapes the
// builder reports, and names nest through sequential, repeat and residual blocks.
func TestBuildInfersShapesAndNames(t *testing.T) {
	block := func(out, stride int, shortcut ...layers.Spec) layers.Spec {
		return layers.New("residual", "", func(o *layers.ResidualOptions) {
			o.Body = []layers.Spec{conv("conv1", out, stride), bn("bn1"), layers.Of("relu"), conv("conv2", out, 1)}
			o.Shortcut = shortcut
		})
	}
	specs := []layers.Spec{
		conv("stem", 4, 1),
		layers.New("repeat", "block", func(o *layers.RepeatOptions) {
			o.N, o.Layers = 2, []layers.Spec{block(4, 1), layers.Of("relu")}
		}),
		layers.New("sequential", "down", func(o *layers.SequentialOptions) {
			o.Layers = []layers.Spec{block(8, 2, layers.Of("option_b"))}
		}),
		layers.New("sequential", "", func(o *layers.SequentialOptions) {
			o.Layers = []layers.Spec{block(16, 2, layers.Of("option_a"))}
		}),
		layers.New("maxpool2d", "", func(o *layers.PoolOptions) { o.Kernel = 2 }),
		layers.Of("flatten"),
		linear("fc", 3),
	}
	net, out, err := layers.Build(specs, layers.Shape{8, 8, 2}, layers.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	// 8×8 → (stride 2) 4×4 → (stride 2) 2×2 → (pool) 1×1 with 16 channels.
	if !out.Equal(layers.Shape{3}) {
		t.Errorf("output shape %v", out)
	}
	points, params, y := hooks(t, net, layers.Shape{8, 8, 2})
	want := []string{"stem", "block1.conv1", "block1.conv2", "block2.conv1", "block2.conv2",
		"down.conv1", "down.conv2", "down.shortcut", "conv1", "conv2", "fc"}
	if !slices.Equal(points, want) {
		t.Errorf("hook points %v\nwant %v", points, want)
	}
	if !slices.Contains(params, "down.shortcut_bn.scale") || !slices.Contains(params, "block2.bn1.shift") {
		t.Errorf("parameters %v", params)
	}
	if !slices.Equal(y, []int{2, 3}) {
		t.Errorf("logits %v", y)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		in    layers.Shape
		specs []layers.Spec
		want  []string
	}{
		{"linear on images", layers.Shape{4, 4, 1}, []layers.Spec{linear("fc", 3)},
			[]string{"layer fc (linear) on input 4×4×1 images", "needs features", "add a flatten"}},
		{"conv on features", layers.Shape{10}, []layers.Spec{conv("c", 3, 1)},
			[]string{"layer c (conv2d) on input features of width 10", "needs images"}},
		{"unnamed weighted layer", layers.Shape{10}, []layers.Spec{linear("", 3)},
			[]string{"layer 1 of the network (linear) needs a name"}},
		{"duplicate name", layers.Shape{10}, []layers.Spec{linear("fc", 3), linear("fc", 3)},
			[]string{"layer fc (linear): the name fc is taken"}},
		{"residual mismatch", layers.Shape{8, 8, 2}, []layers.Spec{
			layers.New("residual", "b", func(o *layers.ResidualOptions) { o.Body = []layers.Spec{conv("c", 4, 2)} })},
			[]string{"layer b (residual) on input 8×8×2 images", "body gives 4×4×4 but the identity shortcut gives 8×8×2"}},
		{"nested error names the inner layer", layers.Shape{8, 8, 2}, []layers.Spec{
			layers.New("sequential", "s", func(o *layers.SequentialOptions) {
				o.Layers = []layers.Spec{layers.New("maxpool2d", "", func(o *layers.PoolOptions) { o.Kernel = 9 })}
			})},
			[]string{"layer 1 of s (maxpool2d) on input 8×8×2 images: a 9×9 window does not fit"}},
		{"unknown type", layers.Shape{10}, []layers.Spec{{Type: "linaer", Name: "fc"}},
			[]string{`unknown layer type "linaer" (did you mean linear?)`}},
		{"bad name", layers.Shape{10}, []layers.Spec{linear("a..b", 3)},
			[]string{`layer name "a..b"`}},
		{"options out of range", layers.Shape{10}, []layers.Spec{linear("fc", 0)},
			[]string{"layer fc (linear): out: must be >= 1, got 0"}},
	} {
		_, _, err := layers.Build(c.specs, c.in, layers.Defaults{})
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.name, err, w)
			}
		}
	}
}

// A network fed images that flattens first needs no image view: its input rows already are
// the flattened images.
func TestBuildImageView(t *testing.T) {
	net, _, err := layers.Build([]layers.Spec{layers.Of("flatten"), linear("fc", 2)}, layers.Shape{2, 2, 1}, layers.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if len(net) != 1 {
		t.Errorf("layers %#v, want the linear layer alone", net)
	}
	net, _, err = layers.Build([]layers.Spec{conv("c", 2, 1)}, layers.Shape{2, 2, 1}, layers.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := net[0].(graph.Image); !ok || len(net) != 2 {
		t.Errorf("layers %#v, want an image view and the convolution", net)
	}
}

// Specs marshal to the YAML a config would hold.
func TestSpecMarshal(t *testing.T) {
	for _, c := range []struct {
		s    layers.Spec
		want string
	}{
		{layers.Of("relu"), "relu"},
		{linear("fc", 3), "{type: linear, name: fc, out: 3, bias: true, init: \"\"}"},
	} {
		v, err := c.s.MarshalYAML()
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if s, ok := v.(string); ok {
			got = s
		} else {
			b, _ := yamlString(v)
			got = b
		}
		if strings.TrimSpace(got) != c.want {
			t.Errorf("%v marshals as %q, want %q", c.s, got, c.want)
		}
	}
}
