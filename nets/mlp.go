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
	Init                         graph.Initializer // default He normal
	BNMomentum, BNEps            float64           // defaults 0.1, 1e-5
}

// MLP builds the network of spec.
func MLP(spec MLPSpec) (graph.Sequential, error) {
	if spec.Input < 1 || spec.Depth < 1 || spec.Classes < 1 || (spec.Depth > 1 && spec.Width < 1) {
		return nil, fmt.Errorf("nets: MLP needs input, depth, classes ≥ 1 and width ≥ 1 (got input %d, depth %d, width %d, classes %d)",
			spec.Input, spec.Depth, spec.Width, spec.Classes)
	}
	act := spec.Activation
	if act == "" {
		act = graph.ReLU
	}
	if err := act.Valid(); err != nil {
		return nil, fmt.Errorf("nets: %w", err)
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
	if spec.BNMomentum == 0 {
		spec.BNMomentum = 0.1
	}
	if spec.BNEps == 0 {
		spec.BNEps = 1e-5
	}
	init := spec.Init
	if init == nil {
		init = graph.HeNormal
	}
	var net graph.Sequential
	in := spec.Input
	for i := 1; i <= spec.Depth; i++ {
		out := spec.Width
		if i == spec.Depth {
			out = spec.Classes
		}
		net = append(net, &graph.Linear{Name: fmt.Sprintf("fc%d", i), In: in, Out: out, Bias: spec.Bias, Init: init})
		if i == spec.Depth {
			break
		}
		var bn graph.Layer
		if norm == BatchNorm {
			bn = &graph.BatchNorm{Name: fmt.Sprintf("bn%d", i), C: out, Momentum: spec.BNMomentum, Eps: spec.BNEps}
		}
		switch {
		case bn == nil:
			net = append(net, act)
		case place == BeforeActivation:
			net = append(net, bn, act)
		default:
			net = append(net, act, bn)
		}
		in = out
	}
	return net, nil
}
