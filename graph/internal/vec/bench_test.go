package vec

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkKernels times each kernel, assembly and Go reference, on one BatchNorm input of a
// CIFAR ResNet's first stage (128 images of 32×32 pixels, 16 channels), single-threaded.
func BenchmarkKernels(b *testing.B) {
	const c, rows = 16, 128 * 32 * 32
	r := rand.New(rand.NewPCG(5, 6))
	x, dy, out := coefficients(r, rows*c), coefficients(r, rows*c), make([]float32, rows*c)
	s, t, u := coefficients(r, c), coefficients(r, c), coefficients(r, c)
	mean, sum, sq := make([]float64, c), make([]float64, c), make([]float64, c)
	kernels := []struct {
		name     string
		asm, ref func()
	}{
		{"Relu", func() { Relu(out, x) }, func() { reluGo(out, x) }},
		{"ReluGrad", func() { ReluGrad(out, x, dy) }, func() { reluGradGo(out, x, dy) }},
		{"ScaleShiftRows", func() { ScaleShiftRows(out, x, s, t) }, func() { scaleShiftGo(out, x, s, t) }},
		{"LinearRows", func() { LinearRows(out, dy, x, s, t, u) }, func() { linearGo(out, dy, x, s, t, u) }},
		{"ColumnMoments", func() { ColumnMoments(x, mean, sum, sq) }, func() { momentsGo(x, c, 0, mean, sum, sq) }},
		{"ColumnCross", func() { ColumnCross(x, dy, mean, sum, sq) }, func() { crossGo(x, dy, c, 0, mean, sum, sq) }},
		{"Add", func() { Add(out, x, dy) }, func() { addGo(out, x, dy) }},
		{"AddRelu", func() { AddRelu(out, x, dy) }, func() { addReluGo(out, x, dy) }},
		{"ScaleShiftReluRows", func() { ScaleShiftReluRows(out, x, s, t) }, func() { scaleShiftReluGo(out, x, s, t) }},
		{"LinearRowsGated", func() { LinearRowsGated(out, dy, x, s, t, u, s, t) }, func() { linearGatedGo(out, dy, x, s, t, u, s, t) }},
		{"ColumnCrossGated", func() { ColumnCrossGated(x, dy, mean, sum, sq, s, t) }, func() { crossGatedGo(x, dy, c, 0, mean, sum, sq, s, t) }},
	}
	for _, k := range kernels {
		for _, v := range []struct {
			name string
			f    func()
		}{{"asm", k.asm}, {"go", k.ref}} {
			b.Run(k.name+"/"+v.name, func(b *testing.B) {
				if v.name == "asm" && !haveAVX2 {
					b.Skip("no AVX2")
				}
				b.SetBytes(int64(4 * rows * c))
				for b.Loop() {
					v.f()
				}
			})
		}
	}
}
