package convkernel

import (
	"fmt"
	"testing"
)

// BenchmarkForward times one image of each stage of a CIFAR ResNet's 3×3 convolutions.
func BenchmarkForward(b *testing.B) {
	if !Available() {
		b.Skip("no AVX2/FMA")
	}
	for i, g := range []Geometry{
		{N: 1, H: 32, W: 32, C: 16, KH: 3, KW: 3, P: 1, Out: 16},
		{N: 1, H: 16, W: 16, C: 32, KH: 3, KW: 3, P: 1, Out: 32},
		{N: 1, H: 8, W: 8, C: 64, KH: 3, KW: 3, P: 1, Out: 64},
	} {
		x := make([]float32, g.H*g.W*g.C)
		w := make([]float32, g.KH*g.KW*g.C*g.Out)
		out := make([]float32, g.OH()*g.OW()*g.Out)
		for _, wide := range kernelSets() {
			b.Run(fmt.Sprintf("stage%d/avx512=%v", i+1, wide), func(b *testing.B) {
				defer func(old bool) { useAVX512 = old }(useAVX512)
				useAVX512 = wide
				var pw Weights
				pw.Pack(g, w)
				for b.Loop() {
					Forward(g, x, &pw, out, 0, 1)
				}
				flops := 2 * float64(g.OH()*g.OW()*g.Out*g.KH*g.KW*g.C)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/image")
			})
		}
	}
}
