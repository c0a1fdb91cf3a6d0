package convkernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// geometries are the cases both kernels are checked on: ragged tiles, KH ≠ KW, C = 1, 1×1,
// padding beyond the image, and several output-channel counts.
var geometries = []Geometry{
	{N: 3, H: 5, W: 6, C: 16, KH: 3, KW: 3, P: 1, Out: 16},
	{N: 2, H: 7, W: 4, C: 3, KH: 3, KW: 3, P: 0, Out: 32},
	{N: 2, H: 6, W: 6, C: 5, KH: 5, KW: 5, P: 2, Out: 16},
	{N: 1, H: 4, W: 9, C: 8, KH: 2, KW: 3, P: 1, Out: 48},
	{N: 2, H: 3, W: 3, C: 1, KH: 1, KW: 1, P: 0, Out: 16},
	{N: 1, H: 2, W: 2, C: 4, KH: 3, KW: 3, P: 2, Out: 16},
}

// Forward equals the convolution's definition, summed in float64, up to float32 rounding
// (relative to the sum of the terms' magnitudes), on every image of a batch, with stale
// values in the output and images processed in two ranges. Every tile this CPU has is tried.
func TestForwardMatchesDefinition(t *testing.T) {
	if !Available() {
		t.Skip("no AVX2/FMA")
	}
	for _, wide := range kernelSets() {
		t.Run(fmt.Sprintf("avx512=%v", wide), func(t *testing.T) {
			defer func(old bool) { useAVX512 = old }(useAVX512)
			useAVX512 = wide
			testForward(t)
		})
	}
}

// kernelSets lists the values of useAVX512 this CPU can run.
func kernelSets() []bool {
	if haveAVX512 {
		return []bool{false, true}
	}
	return []bool{false}
}

func testForward(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, g := range append(slices.Clip(geometries), []Geometry{
		{N: 2, H: 8, W: 8, C: 64, KH: 3, KW: 3, P: 1, Out: 64},
		{N: 1, H: 9, W: 7, C: 2, KH: 3, KW: 1, P: 1, Out: 96},
		{N: 2, H: 5, W: 5, C: 20, KH: 3, KW: 3, P: 1, Out: 32},  // pixels 32 values apart
		{N: 1, H: 4, W: 6, C: 100, KH: 3, KW: 3, P: 1, Out: 16}, // 128 apart
		{N: 1, H: 3, W: 4, C: 130, KH: 3, KW: 3, P: 1, Out: 32}, // the generic kernel
		{N: 1, H: 4, W: 4, C: 20, KH: 3, KW: 3, P: 1, Out: 16},
		{N: 1, H: 4, W: 4, C: 64, KH: 3, KW: 3, P: 1, Out: 16},
		{N: 1, H: 4, W: 4, C: 100, KH: 3, KW: 3, P: 1, Out: 32},
		{N: 1, H: 3, W: 4, C: 130, KH: 3, KW: 3, P: 1, Out: 16},
		{N: 2, H: 8, W: 8, C: 16, KH: 3, KW: 3, P: 1, Out: 32, S: 2}, // a stage transition
		{N: 2, H: 9, W: 7, C: 16, KH: 3, KW: 3, P: 1, Out: 16, S: 2}, // odd sizes
		{N: 1, H: 8, W: 8, C: 5, KH: 1, KW: 1, P: 0, Out: 32, S: 2},  // a 1×1 projection
		{N: 1, H: 11, W: 10, C: 3, KH: 5, KW: 3, P: 2, Out: 16, S: 3},
	}...) {
		t.Run(fmt.Sprintf("%+v", g), func(t *testing.T) {
			oh, ow, k := g.OH(), g.OW(), g.KH*g.KW*g.C
			x := make([]float32, g.N*g.H*g.W*g.C)
			w := make([]float32, k*g.Out)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			for i := range w {
				w[i] = float32(r.NormFloat64())
			}
			out := make([]float32, g.N*oh*ow*g.Out)
			for i := range out {
				out[i] = float32(math.NaN())
			}
			var pw Weights
			pw.Pack(g, w)
			Forward(g, x, &pw, out, 0, 1)
			Forward(g, x, &pw, out, 1, g.N)
			for b := 0; b < g.N; b++ {
				for i := 0; i < oh; i++ {
					for j := 0; j < ow; j++ {
						for o := 0; o < g.Out; o++ {
							sum, mag := 0.0, 0.0
							for u := 0; u < g.KH; u++ {
								for v := 0; v < g.KW; v++ {
									ih, iw := i*g.stride()-g.P+u, j*g.stride()-g.P+v
									if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
										continue
									}
									for c := 0; c < g.C; c++ {
										term := float64(x[((b*g.H+ih)*g.W+iw)*g.C+c]) * float64(w[((u*g.KW+v)*g.C+c)*g.Out+o])
										sum += term
										mag += math.Abs(term)
									}
								}
							}
							got := float64(out[((b*oh+i)*ow+j)*g.Out+o])
							if !(math.Abs(got-sum) <= 1e-6*mag+1e-30) {
								t.Fatalf("out[%d,%d,%d,%d] = %v, definition %v", b, i, j, o, got, sum)
							}
						}
					}
				}
			}
		})
	}
}

func TestUnsupported(t *testing.T) {
	for _, g := range []Geometry{
		{N: 1, H: 4, W: 4, C: 3, KH: 3, KW: 3, P: 1, Out: 8},
		{N: 1, H: 2, W: 2, C: 3, KH: 5, KW: 5, P: 0, Out: 16},
	} {
		if g.Supported() || g.GradSupported() {
			t.Errorf("%+v reported supported", g)
		}
	}
	strided := Geometry{N: 1, H: 4, W: 4, C: 16, KH: 3, KW: 3, P: 1, Out: 16, S: 2}
	if Available() && !strided.Supported() {
		t.Errorf("Forward reported not to take stride 2")
	}
	if Wide() && !strided.GradSupported() {
		t.Errorf("WeightGrad reported not to take stride 2")
	}
}

// WeightGrad equals the weight gradient's definition, Σ over images and output pixels of
// input × output gradient, summed in float64, up to float32 rounding (relative to the sum of
// the terms' magnitudes), with stale values in dw, channel counts that leave partial tiles,
// pixel counts that span several blocks, and strides 2 and 3.
func TestWeightGradMatchesDefinition(t *testing.T) {
	if !Wide() {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, g := range append(slices.Clip(geometries), []Geometry{
		{N: 2, H: 12, W: 12, C: 20, KH: 3, KW: 3, P: 1, Out: 64},
		{N: 2, H: 20, W: 19, C: 16, KH: 3, KW: 3, P: 1, Out: 16},
		{N: 2, H: 9, W: 8, C: 16, KH: 3, KW: 3, P: 1, Out: 32, S: 2},
		{N: 2, H: 8, W: 8, C: 5, KH: 1, KW: 1, P: 0, Out: 16, S: 2},
		{N: 1, H: 11, W: 10, C: 3, KH: 5, KW: 3, P: 2, Out: 48, S: 3},
	}...) {
		t.Run(fmt.Sprintf("%+v", g), func(t *testing.T) {
			oh, ow, k := g.OH(), g.OW(), g.KH*g.KW*g.C
			x := make([]float32, g.N*g.H*g.W*g.C)
			dh := make([]float32, g.N*oh*ow*g.Out)
			for _, v := range [][]float32{x, dh} {
				for i := range v {
					v[i] = float32(r.NormFloat64())
				}
			}
			dw := make([]float32, k*g.Out)
			for i := range dw {
				dw[i] = float32(math.NaN())
			}
			WeightGrad(g, x, dh, dw, 1, g.N)
			for u := 0; u < g.KH; u++ {
				for v := 0; v < g.KW; v++ {
					for c := 0; c < g.C; c++ {
						for o := 0; o < g.Out; o++ {
							sum, mag := 0.0, 0.0
							for b := 1; b < g.N; b++ {
								for i := 0; i < oh; i++ {
									for j := 0; j < ow; j++ {
										ih, iw := i*g.stride()-g.P+u, j*g.stride()-g.P+v
										if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
											continue
										}
										term := float64(x[((b*g.H+ih)*g.W+iw)*g.C+c]) * float64(dh[((b*oh+i)*ow+j)*g.Out+o])
										sum += term
										mag += math.Abs(term)
									}
								}
							}
							got := float64(dw[((u*g.KW+v)*g.C+c)*g.Out+o])
							if !(math.Abs(got-sum) <= 1e-6*mag+1e-30) {
								t.Fatalf("dw[%d,%d,%d,%d] = %v, definition %v", u, v, c, o, got, sum)
							}
						}
					}
				}
			}
		})
	}
}
