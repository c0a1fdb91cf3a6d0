package nets

import (
	"fmt"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/layers"
)

// CNNSpec describes a plain VGG-style network: 3×3 convolutions (stride 1, padding 1), each
// followed by an optional BatchNorm and the activation, a 2×2 max pool after every PoolEvery
// convolutions while the image is at least 2×2, then a linear classifier on the flattened
// features.
type CNNSpec struct {
	Input      [3]int           // image height, width, channels
	Channels   []int            // output channels of each convolution
	PoolEvery  int              // default 1
	Classes    int              //
	Norm       Norm             // default none
	Activation graph.Activation // default relu
	Bias       bool             // biases on the convolutions (the classifier always has one)
	// ConvMode is what the convolutions' input hooks record; default patches.
	ConvMode          graph.ConvMode
	Init              string  // convolutions' registered initialiser; default he_fanout
	BNMomentum, BNEps float64 // defaults 0.1, 1e-5
}

// CNN builds the network of spec. Its layers are conv1 … convK, bn1 … bnK (with BatchNorm) and
// fc. The input is the batch as rows of H·W·C channels-last values.
func CNN(spec CNNSpec) (graph.Sequential, error) {
	specs, err := CNNLayers(spec)
	if err == nil {
		err = spec.ConvMode.Valid()
	}
	m, eps := bnDefaults(spec.BNMomentum, spec.BNEps)
	return build(specs, err, layers.Shape(spec.Input[:]), layers.Defaults{Init: initName(spec.Init, "he_fanout"),
		BNMomentum: m, BNEps: eps, ConvMode: spec.ConvMode})
}

// CNNLayers returns the layers of the CNN of spec. The convolutions' initialisation and mode
// and the BatchNorm constants are left to the model's defaults; the classifier is He
// initialised.
func CNNLayers(spec CNNSpec) ([]layers.Spec, error) {
	h, w, c := spec.Input[0], spec.Input[1], spec.Input[2]
	if h < 1 || w < 1 || c < 1 || spec.Classes < 1 || len(spec.Channels) == 0 {
		return nil, fmt.Errorf("nets: CNN needs a positive input shape (got %v), classes ≥ 1 (got %d) and at least one convolution", spec.Input, spec.Classes)
	}
	a, err := act(spec.Activation)
	if err != nil {
		return nil, err
	}
	norm := spec.Norm
	if norm == "" {
		norm = NoNorm
	}
	if norm != NoNorm && norm != BatchNorm {
		return nil, fmt.Errorf("nets: unknown normalisation %q (expected none or batchnorm)", norm)
	}
	every := spec.PoolEvery
	if every == 0 {
		every = 1
	}
	if every < 0 {
		return nil, fmt.Errorf("nets: CNN pool interval %d must be positive", every)
	}
	var net []layers.Spec
	for i, out := range spec.Channels {
		if out < 1 {
			return nil, fmt.Errorf("nets: CNN convolution %d has %d channels", i+1, out)
		}
		net = append(net, conv(fmt.Sprintf("conv%d", i+1), out, 3, 1, spec.Bias))
		if norm == BatchNorm {
			net = append(net, bn(fmt.Sprintf("bn%d", i+1)))
		}
		net = append(net, a)
		if (i+1)%every == 0 && h >= 2 && w >= 2 {
			net = append(net, layers.New("maxpool2d", "", func(o *layers.PoolOptions) { o.Kernel, o.Stride = 2, 2 }))
			h, w = h/2, w/2
		}
	}
	return append(net, layers.Of("flatten"), linear("fc", spec.Classes, true, "he")), nil
}

// conv is a square convolution with "same" padding for odd kernels.
func conv(name string, out, kernel, stride int, bias bool) layers.Spec {
	return layers.New("conv2d", name, func(o *layers.Conv2dOptions) {
		o.Out, o.Kernel, o.Stride, o.Pad, o.Bias = out, kernel, stride, kernel/2, bias
	})
}
