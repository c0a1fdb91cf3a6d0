package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lwca/lwca/layers"
	"github.com/lwca/lwca/nets"
	"github.com/lwca/lwca/optim"
	"github.com/lwca/lwca/registry"
)

const layersHead = "data:\n  dataset: mnist\nmodel:\n  layers:\n"

func TestDeclaredLayers(t *testing.T) {
	src := layersHead + `    - flatten
    - {type: linear, name: fc1, out: 32, init: xavier}
    - {type: batchnorm, name: bn1, momentum: 0.2}
    - relu
    - type: repeat
      name: block
      n: 2
      layers:
        - {type: linear, name: fc, out: 32, bias: false}
        - tanh
    - {type: linear, name: out, out: 10}
`
	c, err := Parse("l.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model.Arch != ArchLayers || len(c.Model.Layers) != 6 {
		t.Fatalf("arch %q, %d layers", c.Model.Arch, len(c.Model.Layers))
	}
	fc1 := c.Model.Layers[1]
	if o, ok := fc1.Options.(*layers.LinearOptions); !ok || fc1.Name != "fc1" || o.Out != 32 || o.Init != "xavier" || !o.Bias {
		t.Errorf("fc1 %+v %+v", fc1, fc1.Options)
	}
	if fc1.Pos != "l.yaml:6" {
		t.Errorf("fc1 declared at %q", fc1.Pos)
	}
	rep := c.Model.Layers[4].Options.(*layers.RepeatOptions)
	if rep.N != 2 || rep.Start != 1 || len(rep.Layers) != 2 || rep.Layers[0].Options.(*layers.LinearOptions).Bias {
		t.Errorf("repeat %+v", rep)
	}
	// The resolved config reads back to the same layers, and writes the same bytes again.
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("config.yaml", b, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	b2, _ := back.Marshal()
	if string(b) != string(b2) {
		t.Errorf("resolved config changes on a second round:\n%s\n%s", b, b2)
	}
	if !strings.Contains(string(b), "arch: layers") || !strings.Contains(string(b), "{type: linear, name: fc1, out: 32, bias: true, init: xavier}") {
		t.Errorf("resolved config:\n%s", b)
	}
}

// Every name a config gives a registry is checked against it, and an unknown one gets the
// file and line, the name, a suggestion and the registered names: architectures,
// initialisers (model-wide and per layer) and layer types, nested or not.
func TestRegistryErrors(t *testing.T) {
	for _, c := range []struct {
		src, needle, field string
		parts              []string
	}{
		{"data:\n  dataset: mnist\nmodel:\n  arch: resnt\n", "resnt", "model.arch",
			[]string{`unknown architecture "resnt" (did you mean resnet?)`, "registered: cnn, layers, mlp, resnet"}},
		{"data:\n  dataset: mnist\nmodel:\n  init: xaiver\n", "xaiver", "model.init",
			[]string{`unknown initialiser "xaiver" (did you mean xavier?)`, "registered: he, he_fanout, he_x10, he_x100, xavier"}},
		{"data:\n  dataset: mnist\noptim:\n  type: adma\n  beta1: 0.8\n", "adma", "optim.type",
			[]string{`unknown optimiser "adma" (did you mean adam?)`, "registered: adam, adamw, sgd"}},
		{layersHead + "    - {type: linaer, name: fc, out: 3}\n", "linaer", "model.layers[0].type",
			[]string{`unknown layer type "linaer" (did you mean linear?)`, "registered: ", "conv2d", "residual"}},
		{layersHead + "    - rleu\n", "rleu", "model.layers[0].type",
			[]string{`unknown layer type "rleu" (did you mean relu?)`}},
		{layersHead + "    - type: repeat\n      name: b\n      layers:\n        - {type: convv2d, name: c, out: 3}\n", "convv2d",
			"model.layers[0].layers[0].type", []string{`unknown layer type "convv2d" (did you mean conv2d?)`}},
		{layersHead + "    - {type: linear, name: fc, out: 3, init: hee}\n", "hee", "model.layers[0].init",
			[]string{`unknown initialiser "hee" (did you mean he?)`, "registered: he, he_fanout, he_x10, he_x100, xavier"}},
	} {
		e := mustFail(t, "r.yaml", c.src)
		wantLine(t, e, at("r.yaml", lineOf(t, c.src, c.needle)), c.field, c.parts...)
	}
}

// Options decode strictly into the layer type's own struct: every unknown key, wrong type and
// value out of range is reported at once, each with its line.
func TestLayerOptionErrors(t *testing.T) {
	src := layersHead + `    - {type: conv2d, name: c1, out: 0, kernal: 3}
    - {type: conv2d, name: c2, out: 8, stride: two}
    - {type: batchnorm, name: bn, momentum: 1.5}
    - {type: relu, slope: 0.1}
    - {name: fc, out: 3}
    - {type: linear, name: "a b", out: 3}
    - [linear]
`
	e := mustFail(t, "o.yaml", src)
	line := func(s string) string { return at("o.yaml", lineOf(t, src, s)) }
	wantLine(t, e, line("kernal"), "model.layers[0].kernal", "unknown key", "valid keys in model.layers[0]: out, kernel, stride, pad")
	wantLine(t, e, line("out: 0"), "model.layers[0].out", "must be >= 1, got 0")
	wantLine(t, e, line("two"), "model.layers[1].stride", `expected an integer, got string "two"`)
	wantLine(t, e, line("1.5"), "model.layers[2].momentum", "must be in (0, 1]")
	wantLine(t, e, line("slope"), "model.layers[3].slope", "layer type relu takes no options")
	wantLine(t, e, line("{name: fc"), "model.layers[4].type", "missing", "registered types: ")
	wantLine(t, e, line("a b"), "model.layers[5].name", `layer name "a b"`)
	wantLine(t, e, line("[linear]"), "model.layers[6]", "expected a layer", "got a list")
	if len(e.Problems) != 8 {
		t.Errorf("%d problems, want 8:\n%v", len(e.Problems), e)
	}
}

func TestLayersGoWithArchLayers(t *testing.T) {
	src := "data:\n  dataset: mnist\nmodel:\n  arch: mlp\n  layers: [relu]\n"
	e := mustFail(t, "a.yaml", src)
	wantLine(t, e, at("a.yaml", 5), "model.layers", "go with model.arch: layers")
	src = "data:\n  dataset: mnist\nmodel:\n  arch: layers\n"
	e = mustFail(t, "a.yaml", src)
	wantLine(t, e, at("a.yaml", 4), "model.arch", "needs the network declared under model.layers")
}

// The optimiser's own options are keys of the optim section, decoded strictly into the
// registered optimiser's options struct.
func TestOptimiserOptions(t *testing.T) {
	c, err := Parse("o.yaml", []byte("data:\n  dataset: mnist\noptim:\n  type: adamw\n  lr: 0.001\n  beta2: 0.99\n  weight_decay: 0.01\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := c.Optim.Options.(*optim.AdamOptions)
	if !ok || c.Optim.Type != "adamw" || o.Beta1 != 0.9 || o.Beta2 != 0.99 || o.Eps != 1e-8 || c.Optim.WeightDecay != 0.01 {
		t.Fatalf("optim %+v, options %+v", c.Optim, c.Optim.Options)
	}
	b, _ := c.Marshal()
	if !strings.Contains(string(b), "optim:\n  type: adamw\n  lr: 0.001\n  beta1: 0.9\n  beta2: 0.99\n  eps: 1e-08\n  weight_decay: 0.01\n") {
		t.Errorf("resolved optim section:\n%s", b)
	}
	// An override switches the type; the new type's defaults fill its options.
	c, err = Parse("o.yaml", []byte("data:\n  dataset: mnist\noptim:\n  momentum: 0.5\n"), []string{"optim.type=adam"})
	if err == nil {
		t.Fatalf("momentum accepted for adam: %+v", c.Optim.Options)
	}
	src := "data:\n  dataset: mnist\noptim:\n  type: adam\n  momentum: 0.5\n  beta1: 1.5\n  eps: -1\n"
	e := mustFail(t, "o.yaml", src)
	wantLine(t, e, at("o.yaml", 5), "optim.momentum", "unknown key; valid keys in optim (type adam): type, lr, weight_decay, schedule, beta1, beta2, eps")
	wantLine(t, e, at("o.yaml", 6), "optim.beta1", "must be in [0, 1), got 1.5")
	wantLine(t, e, at("o.yaml", 7), "optim.eps", "must be a finite number > 0")
	if len(e.Problems) != 3 {
		t.Errorf("%d problems, want 3:\n%v", len(e.Problems), e)
	}
}

// blockArchOptions are the own options of a test architecture.
type blockArchOptions struct {
	Blocks int    `yaml:"blocks"`
	Kind   string `yaml:"kind"`
}

func (o *blockArchOptions) Check() []registry.Problem {
	if o.Blocks < 1 {
		return []registry.Problem{{Field: "blocks", Msg: fmt.Sprintf("must be >= 1, got %d", o.Blocks)}}
	}
	return nil
}

func init() {
	nets.RegisterArch("test_blocks", nets.Arch{
		Options: func() any { return &blockArchOptions{Blocks: 2, Kind: "plain"} },
		Expand: func(o nets.Options, _ layers.Shape, classes int) ([]layers.Spec, error) {
			specs := []layers.Spec{layers.Of("flatten")}
			for i := range o.Own.(*blockArchOptions).Blocks {
				specs = append(specs, layers.New("linear", fmt.Sprintf("fc%d", i+1), func(l *layers.LinearOptions) { l.Out = 8 }), layers.Of("relu"))
			}
			return append(specs, layers.New("linear", "out", func(l *layers.LinearOptions) { l.Out = classes })), nil
		},
	})
}

// An architecture registered with options of its own gets the model section's further keys,
// decoded strictly into its struct, range-checked with lines, and written back by Marshal.
func TestArchitectureOptions(t *testing.T) {
	c, err := Parse("a.yaml", []byte("data:\n  dataset: mnist\nmodel:\n  arch: test_blocks\n  blocks: 3\n"), []string{"model.kind=wide"})
	if err != nil {
		t.Fatal(err)
	}
	o, ok := c.Model.Options.(*blockArchOptions)
	if !ok || o.Blocks != 3 || o.Kind != "wide" {
		t.Fatalf("options %+v", c.Model.Options)
	}
	b, _ := c.Marshal()
	if !strings.Contains(string(b), "  blocks: 3\n  kind: wide\n") {
		t.Errorf("resolved model section:\n%s", b)
	}
	if back, err := Parse("config.yaml", b, nil); err != nil || back.Model.Options.(*blockArchOptions).Blocks != 3 {
		t.Errorf("read back: %v", err)
	}
	src := "data:\n  dataset: mnist\nmodel:\n  arch: test_blocks\n  blocks: 0\n  blokcs: 2\n"
	e := mustFail(t, "a.yaml", src)
	wantLine(t, e, at("a.yaml", 5), "model.blocks", "must be >= 1, got 0")
	wantLine(t, e, at("a.yaml", 6), "model.blokcs", "unknown key; valid keys in model (arch test_blocks): arch, depth", "blocks, kind")
	// Presets have no options of their own: their unknown keys are still errors.
	e = mustFail(t, "a.yaml", "data:\n  dataset: mnist\nmodel:\n  blocks: 3\n")
	wantLine(t, e, at("a.yaml", 4), "model.blocks", "unknown key; valid keys in model: arch, depth")
}
