package data

import (
	"fmt"
	"math"
)

// CIFAR10MeanStd returns the per-channel (R, G, B) mean and standard
// deviation of the CIFAR-10 training images that the usual ResNet recipe
// normalises with, (125.3, 123.0, 113.9) and (63.0, 62.1, 66.7) on the
// 0–255 scale, divided by 255 to match pixels in [0, 1]. Fresh slices
// are returned on every call.
func CIFAR10MeanStd() (mean, std []float32) {
	return []float32{125.3 / 255, 123.0 / 255, 113.9 / 255},
		[]float32{63.0 / 255, 62.1 / 255, 66.7 / 255}
}

// channels returns the number of channels of s, the last dimension of
// its shape (channels last).
func channels(s *Set) int {
	if len(s.Shape) == 0 || s.Shape[len(s.Shape)-1] <= 0 {
		panic(fmt.Sprintf("data: set %q: shape %v has no channel dimension", s.Name, s.Shape))
	}
	return s.Shape[len(s.Shape)-1]
}

// ChannelStats returns the mean and the population standard deviation of
// every channel of s, over all pixels of all samples, accumulated in
// float64. Samples are channels last, so the channel count is the last
// dimension of s.Shape. Compute them on the training set and apply them
// to both sets with NormalizeChannels.
func ChannelStats(s *Set) (mean, std []float32) {
	c := channels(s)
	pixels := len(s.X) / c
	mean = make([]float32, c)
	std = make([]float32, c)
	if pixels == 0 {
		return mean, std
	}
	// Partial sums over fixed runs of pixels, added in order, make the
	// result independent of the number of goroutines.
	const run = 1 << 14
	runs := (pixels + run - 1) / run
	part := make([]float64, runs*c)
	m := make([]float64, c)
	accumulate := func(squares bool) []float64 {
		clear(part)
		parallelFor(runs, func(j int) error {
			p := part[j*c : (j+1)*c]
			xs := s.X[j*run*c : min((j+1)*run, pixels)*c]
			for i := 0; i < len(xs); i += c {
				for k, v := range xs[i : i+c] {
					d := float64(v)
					if squares {
						d -= m[k]
						d *= d
					}
					p[k] += d
				}
			}
			return nil
		})
		total := make([]float64, c)
		for j := range runs {
			for k := range c {
				total[k] += part[j*c+k]
			}
		}
		return total
	}
	for k, v := range accumulate(false) {
		m[k] = v / float64(pixels)
	}
	// Two passes: the deviations avoid the cancellation of E[x²]−E[x]².
	for k, v := range accumulate(true) {
		mean[k] = float32(m[k])
		std[k] = float32(math.Sqrt(v / float64(pixels)))
	}
	return mean, std
}

// NormalizeChannels replaces every value x of channel k by
// (x−mean[k])/std[k]. It panics if mean or std does not have one entry
// per channel or if a std is not positive.
func (s *Set) NormalizeChannels(mean, std []float32) {
	c := channels(s)
	if len(mean) != c || len(std) != c {
		panic(fmt.Sprintf("data: NormalizeChannels: %d means and %d stds for %d channels", len(mean), len(std), c))
	}
	inv := make([]float64, c)
	for k, sd := range std {
		if !(sd > 0) {
			panic(fmt.Sprintf("data: NormalizeChannels: std[%d]=%v, want > 0", k, sd))
		}
		inv[k] = 1 / float64(sd)
	}
	for p := 0; p < len(s.X); p += c {
		px := s.X[p : p+c]
		for k, v := range px {
			px[k] = float32((float64(v) - float64(mean[k])) * inv[k])
		}
	}
}
