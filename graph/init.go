package graph

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lwca/lwca/registry"
)

// HeNormal draws from N(0, 2/fanIn) (He et al. 2015, fan-in mode), for ReLU networks.
func HeNormal(rng *rand.Rand, data []float64, fanIn, fanOut int) {
	normal(rng, data, math.Sqrt(2/float64(fanIn)))
}

// HeNormalFanOut draws from N(0, 2/fanOut), the convolution initialisation of the ResNet recipe.
func HeNormalFanOut(rng *rand.Rand, data []float64, fanIn, fanOut int) {
	normal(rng, data, math.Sqrt(2/float64(fanOut)))
}

// XavierNormal draws from N(0, 2/(fanIn+fanOut)) (Glorot & Bengio 2010).
func XavierNormal(rng *rand.Rand, data []float64, fanIn, fanOut int) {
	normal(rng, data, math.Sqrt(2/float64(fanIn+fanOut)))
}

// Constant returns an initialiser that fills with v.
func Constant(v float64) Initializer {
	return func(_ *rand.Rand, data []float64, _, _ int) {
		for i := range data {
			data[i] = v
		}
	}
}

// Scaled returns init with every value multiplied by s (for studies of large initial weights).
func Scaled(init Initializer, s float64) Initializer {
	return func(rng *rand.Rand, data []float64, fanIn, fanOut int) {
		init(rng, data, fanIn, fanOut)
		for i := range data {
			data[i] *= s
		}
	}
}

func normal(rng *rand.Rand, data []float64, std float64) {
	for i := range data {
		data[i] = rng.NormFloat64() * std
	}
}

// Initializers holds the initialisers that configs name (model.init, a layer's init option).
// Register more with Initializers.Register in an init function.
var Initializers = registry.New[Initializer]("initialiser")

func init() {
	Initializers.Register("he", HeNormal)
	Initializers.Register("he_fanout", HeNormalFanOut)
	Initializers.Register("xavier", XavierNormal)
	// Ten and a hundred times He's scale: large initial weights, under which BatchNorm's scale
	// invariance shrinks the effective learning rate η/‖W‖² a hundred- or ten-thousandfold.
	Initializers.Register("he_x10", Scaled(HeNormal, 10))
	Initializers.Register("he_x100", Scaled(HeNormal, 100))
}

// InitByName returns the registered initialiser called name ("he", "he_fanout", "xavier",
// "he_x10", "he_x100", or one a program registered).
func InitByName(name string) (Initializer, error) {
	init, err := Initializers.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	return init, nil
}
