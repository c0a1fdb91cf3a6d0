// Package nets assembles lwca layers into named architectures.
//
//	net, err := nets.MLP(nets.MLPSpec{Input: 784, Depth: 4, Width: 256, Classes: 10,
//		Activation: graph.ReLU, Norm: nets.BatchNorm, Bias: true})
//
// Weighted layers are named fc1 … fcDepth and their normalisation layers bn1 … bn(Depth−1), so
// a layer's name in results always says where it sits.
package nets

import (
	"fmt"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/layers"
)

// Norm names a normalisation.
type Norm string

const (
	NoNorm    Norm = "none"
	BatchNorm Norm = "batchnorm"
)

// Placement says where a normalisation sits relative to the activation.
type Placement string

const (
	BeforeActivation Placement = "before" // Linear → BN → activation (Ioffe & Szegedy)
	AfterActivation  Placement = "after"  // Linear → activation → BN
)

// MLPSpec describes a multilayer perceptron: Depth weighted layers, Depth−1 of them hidden.
type MLPSpec struct {
	Input, Depth, Width, Classes int
	Activation                   graph.Activation // default relu
	Norm                         Norm             // default none
	Placement                    Placement        // default before
	Bias                         bool
	Init                         string  // registered initialiser; default he
	BNMomentum, BNEps            float64 // defaults 0.1, 1e-5
}

// MLP builds the network of spec.
func MLP(spec MLPSpec) (graph.Sequential, error) {
	specs, err := MLPLayers(spec)
	m, eps := bnDefaults(spec.BNMomentum, spec.BNEps)
	return build(specs, err, layers.Shape{spec.Input}, layers.Defaults{Init: initName(spec.Init, "he"), BNMomentum: m, BNEps: eps})
}

// MLPLayers returns the layers of the MLP of spec: flatten, then fc1 … fcDepth with bn1 … and
// the activation between them. Initialisation and BatchNorm constants are left to the model's
// defaults.
func MLPLayers(spec MLPSpec) ([]layers.Spec, error) {
	if spec.Input < 1 || spec.Depth < 1 || spec.Classes < 1 || (spec.Depth > 1 && spec.Width < 1) {
		return nil, fmt.Errorf("nets: MLP needs input, depth, classes ≥ 1 and width ≥ 1 (got input %d, depth %d, width %d, classes %d)",
			spec.Input, spec.Depth, spec.Width, spec.Classes)
	}
	a, err := act(spec.Activation)
	if err != nil {
		return nil, err
	}
	norm, place := spec.Norm, spec.Placement
	if norm == "" {
		norm = NoNorm
	}
	if place == "" {
		place = BeforeActivation
	}
	if norm != NoNorm && norm != BatchNorm {
		return nil, fmt.Errorf("nets: unknown normalisation %q (expected none or batchnorm)", norm)
	}
	if place != BeforeActivation && place != AfterActivation {
		return nil, fmt.Errorf("nets: unknown normalisation placement %q (expected before or after)", place)
	}
	net := []layers.Spec{layers.Of("flatten")}
	for i := 1; i <= spec.Depth; i++ {
		out := spec.Width
		if i == spec.Depth {
			out = spec.Classes
		}
		net = append(net, linear(fmt.Sprintf("fc%d", i), out, spec.Bias, ""))
		if i == spec.Depth {
			break
		}
		switch {
		case norm == NoNorm:
			net = append(net, a)
		case place == BeforeActivation:
			net = append(net, bn(fmt.Sprintf("bn%d", i)), a)
		default:
			net = append(net, a, bn(fmt.Sprintf("bn%d", i)))
		}
	}
	return net, nil
}
