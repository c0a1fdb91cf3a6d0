package data_test

import (
	"fmt"

	"github.com/lwca/lwca/data"
)

func ExampleChannelStats() {
	// Two 1×2 RGB images, channels last: every pixel is (r, g, b).
	s := &data.Set{
		X: []float32{
			0.1, 0.4, 0.9, 0.3, 0.6, 0.7,
			0.1, 0.4, 0.9, 0.3, 0.6, 0.7,
		},
		Y: []int32{0, 1}, N: 2, D: 6, Classes: 2, Shape: []int{1, 2, 3},
	}
	mean, std := data.ChannelStats(s)
	fmt.Printf("mean %.2f\nstd  %.2f\n", mean, std)
	s.NormalizeChannels(mean, std)
	fmt.Printf("first pixel %.2f\n", s.X[:3])
	// Output:
	// mean [0.20 0.50 0.80]
	// std  [0.10 0.10 0.10]
	// first pixel [-1.00 -1.00 1.00]
}

func ExampleAugment() {
	// One 3×4 grey image; a 1-pixel shift fills a border with zeros.
	x := []float32{
		1, 2, 3, 4,
		5, 6, 7, 8,
		9, 10, 11, 12,
	}
	aug := data.Augment{Pad: 1, Flip: true}
	aug.Apply(x, 1, []int{3, 4, 1}, 42, 0, 0)
	// Here the draw shifted the content up and left by one pixel, then
	// mirrored it.
	for r := range 3 {
		fmt.Println(x[4*r : 4*r+4])
	}
	// The same (seed, epoch, batch) always gives the same result.
	y := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	aug.Apply(y, 1, []int{3, 4, 1}, 42, 0, 0)
	fmt.Println(fmt.Sprint(x) == fmt.Sprint(y))
	// Output:
	// [0 8 7 6]
	// [0 12 11 10]
	// [0 0 0 0]
	// true
}
