package graph

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// Image views each row of a 2-D batch (N, H·W·C) as a channels-last image, giving (N, H, W, C):
// the first layer of a convolutional network fed from a data set whose Shape is (H, W, C).
// The view shares the input's storage.
type Image struct{ H, W, C int }

// Forward implements Layer.
func (l Image) Forward(_ *Builder, x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if l.H < 1 || l.W < 1 || l.C < 1 {
		return nil, fmt.Errorf("image: invalid shape %d×%d×%d", l.H, l.W, l.C)
	}
	if len(s) == 4 && s[1] == l.H && s[2] == l.W && s[3] == l.C {
		return x, nil
	}
	if len(s) != 2 || s[1] != l.H*l.W*l.C {
		return nil, fmt.Errorf("image: input shape %v, expected (N, %d) rows of %d×%d×%d images", s, l.H*l.W*l.C, l.H, l.W, l.C)
	}
	return G.Reshape(x, []int{s[0], l.H, l.W, l.C})
}

// Flatten turns (N, d1, d2, …) into (N, d1·d2·…), so that a Linear layer can follow a
// convolution or pooling layer; 2-D input passes unchanged.
type Flatten struct{}

// Forward implements Layer.
func (Flatten) Forward(_ *Builder, x *G.Node) (*G.Node, error) {
	s := x.Shape()
	if len(s) < 2 {
		return nil, fmt.Errorf("flatten: input shape %v, expected a batch (N, …)", s)
	}
	if len(s) == 2 {
		return x, nil
	}
	return G.Reshape(x, []int{s[0], product(s[1:])})
}
