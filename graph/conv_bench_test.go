package graph

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lwca/lwca/backend/backendtest"
)

// BenchmarkConvInputGradient times ∂L/∂x of the 3×3 convolutions of a CIFAR ResNet's three
// stages at batch 128 in float32, by the adjoint convolution and by col2im, per backend.
func BenchmarkConvInputGradient(b *testing.B) {
	stages := []convGeom{
		{n: 128, h: 32, w: 32, c: 16, kh: 3, kw: 3, s: 1, p: 1, oh: 32, ow: 32, cout: 16},
		{n: 128, h: 16, w: 16, c: 32, kh: 3, kw: 3, s: 1, p: 1, oh: 16, ow: 16, cout: 32},
		{n: 128, h: 8, w: 8, c: 64, kh: 3, kw: 3, s: 1, p: 1, oh: 8, ow: 8, cout: 64},
	}
	backendtest.Each(b, func(b *testing.B) {
		for i, g := range stages {
			r := rand.New(rand.NewPCG(1, uint64(i)))
			dh := make([]float32, g.rows()*g.cout)
			w := make([]float32, g.k()*g.cout)
			dx := make([]float32, g.pixels()*g.c)
			for j := range dh {
				dh[j] = r.Float32() - 0.5
			}
			for j := range w {
				w[j] = r.Float32() - 0.5
			}
			op := &convDataGradOp{st: &convState{g: g}}
			for _, route := range []struct {
				name    string
				adjoint bool
			}{{"adjoint", true}, {"col2im", false}} {
				b.Run(fmt.Sprintf("stage%d/%s", i+1, route.name), func(b *testing.B) {
					defer func(old bool) { useAdjoint = old }(useAdjoint)
					useAdjoint = route.adjoint
					for b.Loop() {
						convDataGrad(op, dh, w, dx)
					}
				})
			}
		}
	})
}

// BenchmarkIm2col times building the patch rows of one CIFAR ResNet image per stage, float32.
func BenchmarkIm2col(b *testing.B) {
	for i, g := range []convGeom{
		{n: 1, h: 32, w: 32, c: 16, kh: 3, kw: 3, s: 1, p: 1, oh: 32, ow: 32, cout: 16},
		{n: 1, h: 16, w: 16, c: 32, kh: 3, kw: 3, s: 1, p: 1, oh: 16, ow: 16, cout: 32},
		{n: 1, h: 8, w: 8, c: 64, kh: 3, kw: 3, s: 1, p: 1, oh: 8, ow: 8, cout: 64},
	} {
		x := make([]float32, g.pixels()*g.c)
		p := make([]float32, g.rows()*g.k())
		b.Run(fmt.Sprintf("stage%d", i+1), func(b *testing.B) {
			b.SetBytes(int64(4 * len(p)))
			for b.Loop() {
				im2col(g, x, p, 0, 1)
			}
		})
	}
}
