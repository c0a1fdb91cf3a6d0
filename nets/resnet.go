package nets

import (
	"fmt"
	"strings"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/layers"
)

// ResNetForm names a variant of the CIFAR ResNet.
type ResNetForm string

const (
	// Original is He et al.'s post-activation network: blocks conv-BN-ReLU-conv-BN, plus the
	// shortcut, then ReLU.
	Original ResNetForm = "original"
	// PreAct is the pre-activation network (He et al. 2016b): blocks BN-ReLU-conv-BN-ReLU-conv
	// plus the shortcut, and a final BN and ReLU before pooling.
	PreAct ResNetForm = "preact"
	// LastBN is Original with one BatchNorm over the 64 pooled features, between global
	// average pooling and the classifier, without ReLU (Huang et al. 2020).
	LastBN ResNetForm = "lastbn"
)

// Shortcut names how a block that changes resolution or width maps its input.
type Shortcut string

const (
	// ShortcutA subsamples and zero-pads channels: no parameters (He et al.'s CIFAR choice).
	ShortcutA Shortcut = "A"
	// ShortcutB projects with a strided 1×1 convolution followed by BatchNorm.
	ShortcutB Shortcut = "B"
)

// ResNetSpec describes a CIFAR ResNet of depth 6n+2: a 3×3 convolution, three stages of n
// basic blocks (two 3×3 convolutions each) at widths Widths with strides 1, 2, 2, global
// average pooling and a linear classifier.
type ResNetSpec struct {
	Depth    int        // 6n+2: 8, 14, 20, 32, 44, 56, 110, …
	Input    [3]int     // image height, width, channels; default 32, 32, 3
	Classes  int        // default 10
	Form     ResNetForm // default original
	Shortcut Shortcut   // default A
	Widths   [3]int     // stage widths; default 16, 32, 64
	// ConvMode is what the convolutions' input hooks record; default patches.
	ConvMode          graph.ConvMode
	Init              string  // convolutions' registered initialiser; default he_fanout
	BNMomentum, BNEps float64 // defaults 0.1, 1e-5
}

// Blocks returns n, the number of blocks per stage of a ResNet of the given depth, or an error
// when depth is not 6n+2 with n ≥ 1.
func Blocks(depth int) (int, error) {
	if depth < 8 || (depth-2)%6 != 0 {
		return 0, fmt.Errorf("nets: ResNet depth %d is not 6n+2 with n ≥ 1 (valid: 8, 14, 20, 32, 44, 56, 110, …)", depth)
	}
	return (depth - 2) / 6, nil
}

// ResNet builds the network of spec. Its layers are named for where they sit: conv1 and bn1
// at the start (preact: conv1 only, and bn_final before pooling); stage{s}.block{b}.conv1,
// .bn1, .conv2, .bn2 inside the blocks; stage{s}.block{b}.shortcut and .shortcut_bn for
// option-B projections; fc_bn (lastbn) and fc at the end. The input is the batch as rows of
// H·W·C channels-last values; any image size works, the pooling being global.
//
// Shortcuts, identity or not, take the block's input: in pre-activation blocks that is the
// un-normalised residual stream (some implementations project the pre-activated input instead).
//
//	net, err := nets.ResNet(nets.ResNetSpec{Depth: 110, Form: nets.LastBN})
//	tr, err := train.NewTrainer(net, graph.NewStore(tensor.Float32, seed), 128, 32*32*3)
func ResNet(spec ResNetSpec) (graph.Sequential, error) {
	spec = spec.withDefaults()
	specs, err := ResNetLayers(spec)
	if err == nil {
		err = spec.ConvMode.Valid()
	}
	if err != nil {
		return nil, err
	}
	m, eps := bnDefaults(spec.BNMomentum, spec.BNEps)
	return build(specs, err, layers.Shape(spec.Input[:]), layers.Defaults{Init: initName(spec.Init, "he_fanout"),
		BNMomentum: m, BNEps: eps, ConvMode: spec.ConvMode})
}

func (spec ResNetSpec) withDefaults() ResNetSpec {
	if spec.Input == [3]int{} {
		spec.Input = [3]int{32, 32, 3}
	}
	if spec.Classes == 0 {
		spec.Classes = 10
	}
	if spec.Form == "" {
		spec.Form = Original
	}
	if spec.Shortcut == "" {
		spec.Shortcut = ShortcutA
	}
	if spec.Widths == [3]int{} {
		spec.Widths = [3]int{16, 32, 64}
	}
	return spec
}

// ResNetLayers returns the layers of the ResNet of spec: each block a residual named
// stage{s}.block{b}. The convolutions' initialisation and mode and the BatchNorm constants
// are left to the model's defaults; the classifier is He initialised.
func ResNetLayers(spec ResNetSpec) ([]layers.Spec, error) {
	n, err := Blocks(spec.Depth)
	if err != nil {
		return nil, err
	}
	spec = spec.withDefaults()
	switch {
	case spec.Form != Original && spec.Form != PreAct && spec.Form != LastBN:
		return nil, fmt.Errorf("nets: unknown ResNet form %q (expected original, preact or lastbn)", spec.Form)
	case spec.Shortcut != ShortcutA && spec.Shortcut != ShortcutB:
		return nil, fmt.Errorf("nets: unknown shortcut %q (expected A or B)", spec.Shortcut)
	case spec.Input[0] < 1 || spec.Input[1] < 1 || spec.Input[2] < 1 || spec.Classes < 1:
		return nil, fmt.Errorf("nets: ResNet input %v and classes %d must be positive", spec.Input, spec.Classes)
	case spec.Widths[0] < 1 || spec.Widths[1] < spec.Widths[0] || spec.Widths[2] < spec.Widths[1]:
		return nil, fmt.Errorf("nets: ResNet widths %v must be positive and non-decreasing", spec.Widths)
	}
	relu := layers.Of("relu")
	net := []layers.Spec{conv("conv1", spec.Widths[0], 3, 1, false)}
	if spec.Form != PreAct {
		net = append(net, bn("bn1"), relu)
	}
	in := spec.Widths[0]
	for s, width := range spec.Widths {
		for j := 1; j <= n; j++ {
			stride := 1
			if s > 0 && j == 1 {
				stride = 2
			}
			net = append(net, block(spec, fmt.Sprintf("stage%d.block%d", s+1, j), in, width, stride)...)
			in = width
		}
	}
	if spec.Form == PreAct {
		net = append(net, bn("bn_final"), relu)
	}
	net = append(net, layers.Of("global_avgpool"))
	if spec.Form == LastBN {
		net = append(net, bn("fc_bn"))
	}
	return append(net, linear("fc", spec.Classes, true, "he")), nil
}

// block returns the layers of one basic block named name.
func block(spec ResNetSpec, name string, in, out, stride int) []layers.Spec {
	var shortcut []layers.Spec
	if stride != 1 || in != out {
		shortcut = []layers.Spec{layers.Of("option_" + strings.ToLower(string(spec.Shortcut)))}
	}
	relu := layers.Of("relu")
	var body []layers.Spec
	if spec.Form == PreAct {
		body = []layers.Spec{bn("bn1"), relu, conv("conv1", out, 3, stride, false), bn("bn2"), relu, conv("conv2", out, 3, 1, false)}
	} else {
		body = []layers.Spec{conv("conv1", out, 3, stride, false), bn("bn1"), relu, conv("conv2", out, 3, 1, false), bn("bn2")}
	}
	res := layers.New("residual", name, func(o *layers.ResidualOptions) { o.Body, o.Shortcut = body, shortcut })
	if spec.Form == PreAct {
		return []layers.Spec{res}
	}
	return []layers.Spec{res, relu}
}
