package nets

import (
	"fmt"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/layers"
	"github.com/lwca/lwca/registry"
)

// Options are the model section's options that architectures expand: the keys of a config's
// model section other than arch.
type Options struct {
	Depth       int
	Width       int
	Activation  string
	Norm        string
	BNPlacement string
	Bias        bool
	Form        string
	Shortcut    string
	Widths      []int
	Channels    []int
	PoolEvery   int
	// Layers are the declared layers of the layers architecture.
	Layers []layers.Spec
	// Own is the architecture's own options: the pointer its Options returned, decoded from
	// the model section's further keys; nil for an architecture without Options.
	Own any
}

// Arch is a registered architecture: a preset that expands options into a list of layers for
// samples of shape in and the given number of classes. Every network, preset or declared,
// is then built from its layers by layers.Build: one path.
type Arch struct {
	// Options, if set, returns a pointer to a new struct of the architecture's own options,
	// holding the defaults: a config's model keys beyond the common ones decode into it
	// strictly (by yaml tags) and reach Expand as o.Own; a Check() []registry.Problem method
	// has its problems reported with their lines.
	Options func() any
	Expand  func(o Options, in layers.Shape, classes int) ([]layers.Spec, error)
}

// Archs holds the registered architectures: mlp, cnn, resnet and layers (the model's own
// layer list), and whatever a program adds with RegisterArch.
var Archs = registry.New[Arch]("architecture")

// RegisterArch adds an architecture under name. Call it from an init function; it panics on a
// duplicate name.
func RegisterArch(name string, a Arch) { Archs.Register(name, a) }

func init() {
	RegisterArch("mlp", Arch{Expand: func(o Options, in layers.Shape, classes int) ([]layers.Spec, error) {
		return MLPLayers(MLPSpec{Input: in.Size(), Depth: o.Depth, Width: o.Width, Classes: classes,
			Activation: graph.Activation(o.Activation), Norm: Norm(o.Norm), Placement: Placement(o.BNPlacement), Bias: o.Bias})
	}})
	RegisterArch("cnn", Arch{Expand: func(o Options, in layers.Shape, classes int) ([]layers.Spec, error) {
		h, w, c, err := in.Image()
		if err != nil {
			return nil, fmt.Errorf("cnn %w", err)
		}
		return CNNLayers(CNNSpec{Input: [3]int{h, w, c}, Channels: o.Channels, PoolEvery: o.PoolEvery, Classes: classes,
			Norm: Norm(o.Norm), Activation: graph.Activation(o.Activation), Bias: o.Bias})
	}})
	RegisterArch("resnet", Arch{Expand: func(o Options, in layers.Shape, classes int) ([]layers.Spec, error) {
		h, w, c, err := in.Image()
		if err != nil {
			return nil, fmt.Errorf("resnet %w", err)
		}
		var widths [3]int
		copy(widths[:], o.Widths)
		return ResNetLayers(ResNetSpec{Depth: o.Depth, Input: [3]int{h, w, c}, Classes: classes, Form: ResNetForm(o.Form),
			Shortcut: Shortcut(o.Shortcut), Widths: widths})
	}})
	RegisterArch("layers", Arch{Expand: func(o Options, _ layers.Shape, _ int) ([]layers.Spec, error) {
		if len(o.Layers) == 0 {
			return nil, fmt.Errorf("the layers architecture needs model.layers")
		}
		return o.Layers, nil
	}})
}

// build builds preset layers with the Go API's defaults.
func build(specs []layers.Spec, err error, in layers.Shape, d layers.Defaults) (graph.Sequential, error) {
	if err != nil {
		return nil, err
	}
	net, _, err := layers.Build(specs, in, d)
	if err != nil {
		return nil, fmt.Errorf("nets: %w", err)
	}
	return net, nil
}

func initName(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

func bnDefaults(m, eps float64) (float64, float64) {
	if m == 0 {
		m = 0.1
	}
	if eps == 0 {
		eps = 1e-5
	}
	return m, eps
}

func act(a graph.Activation) (layers.Spec, error) {
	if a == "" {
		a = graph.ReLU
	}
	if err := a.Valid(); err != nil {
		return layers.Spec{}, fmt.Errorf("nets: %w", err)
	}
	return layers.Of(string(a)), nil
}

func linear(name string, out int, bias bool, init string) layers.Spec {
	return layers.New("linear", name, func(o *layers.LinearOptions) { o.Out, o.Bias, o.Init = out, bias, init })
}

func bn(name string) layers.Spec { return layers.New[struct{}]("batchnorm", name, nil) }
