package nets

import (
	"fmt"

	"github.com/lwca/lwca/graph"
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
	Init              graph.Initializer // convolutions; default He normal, fan-out
	BNMomentum, BNEps float64           // defaults 0.1, 1e-5
}

// CNN builds the network of spec. Its layers are conv1 … convK, bn1 … bnK (with BatchNorm) and
// fc. The input is the batch as rows of H·W·C channels-last values.
func CNN(spec CNNSpec) (graph.Sequential, error) {
	h, w, c := spec.Input[0], spec.Input[1], spec.Input[2]
	if h < 1 || w < 1 || c < 1 || spec.Classes < 1 || len(spec.Channels) == 0 {
		return nil, fmt.Errorf("nets: CNN needs a positive input shape (got %v), classes ≥ 1 (got %d) and at least one convolution", spec.Input, spec.Classes)
	}
	act := spec.Activation
	if act == "" {
		act = graph.ReLU
	}
	if err := act.Valid(); err != nil {
		return nil, fmt.Errorf("nets: %w", err)
	}
	norm := spec.Norm
	if norm == "" {
		norm = NoNorm
	}
	if norm != NoNorm && norm != BatchNorm {
		return nil, fmt.Errorf("nets: unknown normalisation %q (expected none or batchnorm)", norm)
	}
	if err := spec.ConvMode.Valid(); err != nil {
		return nil, fmt.Errorf("nets: %w", err)
	}
	every := spec.PoolEvery
	if every == 0 {
		every = 1
	}
	if every < 0 {
		return nil, fmt.Errorf("nets: CNN pool interval %d must be positive", every)
	}
	if spec.BNMomentum == 0 {
		spec.BNMomentum = 0.1
	}
	if spec.BNEps == 0 {
		spec.BNEps = 1e-5
	}
	init := spec.Init
	if init == nil {
		init = graph.HeNormalFanOut
	}
	net := graph.Sequential{graph.Image{H: h, W: w, C: c}}
	in := c
	for i, out := range spec.Channels {
		if out < 1 {
			return nil, fmt.Errorf("nets: CNN convolution %d has %d channels", i+1, out)
		}
		net = append(net, &graph.Conv2d{Name: fmt.Sprintf("conv%d", i+1), In: in, Out: out, KH: 3, KW: 3, Stride: 1, Pad: 1,
			Bias: spec.Bias, Init: init, Mode: spec.ConvMode})
		if norm == BatchNorm {
			net = append(net, &graph.BatchNorm{Name: fmt.Sprintf("bn%d", i+1), C: out, Momentum: spec.BNMomentum, Eps: spec.BNEps})
		}
		net = append(net, act)
		if (i+1)%every == 0 && h >= 2 && w >= 2 {
			net = append(net, graph.MaxPool2d{Kernel: 2, Stride: 2})
			h, w = h/2, w/2
		}
		in = out
	}
	return append(net, graph.Flatten{}, graph.NewLinear("fc", h*w*in, spec.Classes)), nil
}
