// Package norms holds normalisation layers for lwca networks: GroupNorm (Wu & He 2018) and
// LayerNorm over the channel axis. It is written only against the exported API of package
// graph and Gorgonia, as a layer package in another module would be, and is the worked
// example of docs/extending.md.
//
// Both layers normalise channels-last input (N, …, C): images (N, H, W, C) and feature
// matrices (N, C). GroupNorm splits the C channels into Groups groups and normalises each
// sample's group over all its positions and channels; LayerNorm normalises each position's C
// channels on its own (the per-pixel LayerNorm of channels-last ConvNets; for (N, C) input,
// the usual per-sample LayerNorm). GroupNorm with one group normalises each sample as a whole.
// Neither depends on the batch, so training and evaluation graphs compute the same function.
//
//	net := graph.Sequential{
//		graph.Image{H: 32, W: 32, C: 3},
//		graph.NewConv2d("conv1", 3, 16, 3, 1, 1), norms.NewGroupNorm("gn1", 4, 16), graph.ReLU,
//		graph.GlobalAvgPool{}, norms.NewLayerNorm("ln", 16), graph.NewLinear("fc", 16, 10),
//	}
//
// The scale γ starts at 1 and the shift β at 0; their gradients, and the input's, come from
// custom Gorgonia ops checked against finite differences in the tests.
//
// graph.GroupNorm and graph.LayerNorm are the built-in versions of these layers (same
// parameters and names, ops that reuse their buffers and split the work between cores);
// package graph's tests check that both compute the same function.
package norms

import (
	"fmt"

	"github.com/lwca/lwca/graph"
	G "gorgonia.org/gorgonia"
)

// GroupNorm normalises groups of channels of (N, …, C) per sample, over all positions.
type GroupNorm struct {
	Name   string
	Groups int     // number of channel groups; must divide C
	C      int     // channels, the last axis
	Eps    float64 // added to the variance; default 1e-5
}

// NewGroupNorm returns a GroupNorm with PyTorch's default ε.
func NewGroupNorm(name string, groups, c int) *GroupNorm {
	return &GroupNorm{Name: name, Groups: groups, C: c, Eps: 1e-5}
}

// LayerNorm normalises the C channels of every position of (N, …, C) on its own.
type LayerNorm struct {
	Name string
	C    int     // channels, the last axis
	Eps  float64 // added to the variance; default 1e-5
}

// NewLayerNorm returns a LayerNorm with PyTorch's default ε.
func NewLayerNorm(name string, c int) *LayerNorm { return &LayerNorm{Name: name, C: c, Eps: 1e-5} }

// Forward implements graph.Layer.
func (l *GroupNorm) Forward(b *graph.Builder, x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if l.Groups < 1 || l.C%l.Groups != 0 {
		return nil, fmt.Errorf("%s: %d groups do not divide %d channels", l.Name, l.Groups, l.C)
	}
	if err := checkShape(l.Name, s, l.C); err != nil {
		return nil, err
	}
	// One unit per sample: its positions are everything between the batch and channel axes.
	positions := 1
	for _, d := range s[1 : len(s)-1] {
		positions *= d
	}
	geo := geometry{units: s[0], positions: positions, c: l.C, groups: l.Groups, eps: eps(l.Eps)}
	return apply(b, l.Name, "groupnorm", geo, x)
}

// Forward implements graph.Layer.
func (l *LayerNorm) Forward(b *graph.Builder, x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if err := checkShape(l.Name, s, l.C); err != nil {
		return nil, err
	}
	// One unit per position, normalised over its channels alone.
	geo := geometry{units: s.TotalSize() / l.C, positions: 1, c: l.C, groups: 1, eps: eps(l.Eps)}
	return apply(b, l.Name, "layernorm", geo, x)
}

func checkShape(name string, s []int, c int) error {
	if c < 1 || len(s) < 2 || s[len(s)-1] != c {
		return fmt.Errorf("%s: input shape %v, expected (N, …, %d) with channels last", name, s, c)
	}
	return nil
}

func eps(e float64) float64 {
	if e == 0 {
		return 1e-5
	}
	return e
}

// apply creates the layer's scale and shift and adds its op to the graph.
func apply(b *graph.Builder, name, kind string, geo geometry, x *G.Node) (*G.Node, error) {
	gamma, err := b.Param(name, "scale", graph.Scale, []int{geo.c}, geo.c, geo.c, graph.Constant(1))
	if err != nil {
		return nil, err
	}
	beta, err := b.Param(name, "shift", graph.Shift, []int{geo.c}, geo.c, geo.c, graph.Constant(0))
	if err != nil {
		return nil, err
	}
	op := &normOp{name: fmt.Sprintf("norms.%s(%s)", kind, name), geo: geo, dims: x.Dims()}
	y, err := G.ApplyOp(op, x, gamma, beta)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return y, nil
}

// NumParams implements graph.ParamCounter: C scales and shifts.
func (l *GroupNorm) NumParams() int64 { return 2 * int64(l.C) }

// NumParams implements graph.ParamCounter: C scales and shifts.
func (l *LayerNorm) NumParams() int64 { return 2 * int64(l.C) }
