package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
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

// InitByName returns the initialiser called name ("he", "he_fanout", "xavier").
func InitByName(name string) (Initializer, error) {
	switch name {
	case "he":
		return HeNormal, nil
	case "he_fanout":
		return HeNormalFanOut, nil
	case "xavier":
		return XavierNormal, nil
	}
	return nil, fmt.Errorf("graph: unknown initialisation %q (expected he, he_fanout or xavier)", name)
}
