package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/lwca/lwca/graph/internal/convkernel"
)

// im2col, in float32 (block copies) and float64, writes each patch row as the definition
// gives it: the input pixels under the kernel in (u, v, channel) order, zeros outside the
// image. Geometries cover padding wider than the kernel's reach, strides, kernels wider than
// the image and channel counts whose rows the block copy takes whole (multiples of 8).
func TestIm2colMatchesDefinition(t *testing.T) {
	geoms := []convGeom{
		{n: 2, h: 5, w: 6, c: 16, kh: 3, kw: 3, s: 1, p: 1},
		{n: 1, h: 7, w: 7, c: 8, kh: 3, kw: 3, s: 2, p: 1},
		{n: 2, h: 4, w: 5, c: 3, kh: 3, kw: 3, s: 1, p: 2},
		{n: 1, h: 3, w: 2, c: 16, kh: 3, kw: 3, s: 1, p: 1},
		{n: 1, h: 4, w: 3, c: 8, kh: 2, kw: 5, s: 1, p: 2},
		{n: 1, h: 6, w: 6, c: 5, kh: 1, kw: 1, s: 2, p: 0},
		{n: 1, h: 5, w: 5, c: 32, kh: 3, kw: 3, s: 1, p: 0},
	}
	r := rand.New(rand.NewPCG(11, 12))
	for _, g := range geoms {
		g.oh, g.ow = (g.h+2*g.p-g.kh)/g.s+1, (g.w+2*g.p-g.kw)/g.s+1
		t.Run(fmt.Sprintf("%dx%dx%d_k%dx%d_s%d_p%d", g.h, g.w, g.c, g.kh, g.kw, g.s, g.p), func(t *testing.T) {
			x64 := make([]float64, g.pixels()*g.c)
			x32 := make([]float32, len(x64))
			for i := range x64 {
				x32[i] = float32(r.NormFloat64())
				x64[i] = float64(x32[i])
			}
			k := g.k()
			p64 := make([]float64, g.rows()*k)
			p32 := make([]float32, len(p64))
			for i := range p32 { // stale values must be overwritten
				p32[i], p64[i] = 7, 7
			}
			im2col(g, x64, p64, 0, g.n)
			im2col(g, x32, p32, 0, g.n)
			row := 0
			for b := 0; b < g.n; b++ {
				for i := 0; i < g.oh; i++ {
					for j := 0; j < g.ow; j++ {
						e := 0
						for u := 0; u < g.kh; u++ {
							for v := 0; v < g.kw; v++ {
								for ch := 0; ch < g.c; ch++ {
									ih, iw := i*g.s-g.p+u, j*g.s-g.p+v
									want := 0.0
									if ih >= 0 && ih < g.h && iw >= 0 && iw < g.w {
										want = x64[((b*g.h+ih)*g.w+iw)*g.c+ch]
									}
									if got := p64[row*k+e]; got != want {
										t.Fatalf("float64 patch row %d entry %d = %v, want %v", row, e, got, want)
									}
									if got := float64(p32[row*k+e]); got != want {
										t.Fatalf("float32 patch row %d entry %d = %v, want %v", row, e, got, want)
									}
									e++
								}
							}
						}
						row++
					}
				}
			}
		})
	}
}

// In float32 the direct kernels and the patch-matrix route give the same convolution, the
// same input gradient (by the adjoint convolution) and, with AVX-512, the same weight
// gradient, up to float32 rounding of sums of 9·In (or N·OH·OW) terms, on CIFAR ResNet-like
// geometries and ones with other kernels and paddings.
func TestDirectKernelMatchesPatchRoute(t *testing.T) {
	if !convkernel.Available() {
		t.Skip("no AVX2/FMA")
	}
	r := rand.New(rand.NewPCG(13, 14))
	for _, g := range []convGeom{
		{n: 3, h: 4, w: 20, c: 16, kh: 3, kw: 3, s: 1, p: 1, cout: 16},
		{n: 2, h: 3, w: 18, c: 32, kh: 3, kw: 3, s: 1, p: 1, cout: 32},
		{n: 2, h: 5, w: 34, c: 16, kh: 5, kw: 5, s: 1, p: 2, cout: 16},
		{n: 2, h: 5, w: 20, c: 8, kh: 3, kw: 3, s: 1, p: 0, cout: 32},
		{n: 2, h: 32, w: 32, c: 16, kh: 3, kw: 3, s: 1, p: 1, cout: 16}, // a CIFAR ResNet's stage 1
		{n: 2, h: 16, w: 16, c: 32, kh: 3, kw: 3, s: 1, p: 1, cout: 32}, // and stage 2
		{n: 2, h: 8, w: 8, c: 64, kh: 3, kw: 3, s: 1, p: 1, cout: 64},   // and stage 3
	} {
		g.oh, g.ow = g.h+2*g.p-g.kh+1, g.w+2*g.p-g.kw+1
		t.Run(fmt.Sprintf("%dx%dx%d_k%d_p%d_out%d", g.h, g.w, g.c, g.kh, g.p, g.cout), func(t *testing.T) {
			x := make([]float32, g.pixels()*g.c)
			w := make([]float32, g.k()*g.cout)
			dh := make([]float32, g.rows()*g.cout)
			fillNormal(r, x, w, dh)
			if !directConv(g, x, w, make([]float32, g.rows()*g.cout), &convkernel.Weights{}) {
				if !convkernel.Wide() && g.cout > 32 {
					t.Skip("the AVX2 tile leaves more than 32 channels to the patch route")
				}
				t.Fatal("the direct kernel does not take this geometry")
			}
			if _, ok := g.adjoint(); !ok {
				t.Fatal("no adjoint convolution for this geometry")
			}
			st := &convState{g: g, inputGrad: true}
			run := func(direct bool) (out, dx, dw []float32) {
				defer func(old bool) { useDirect = old }(useDirect)
				useDirect = direct
				out, dx, dw = make([]float32, g.rows()*g.cout), make([]float32, g.pixels()*g.c), make([]float32, g.k()*g.cout)
				convForward(&convOp{st: st}, x, w, nil, out)
				convDataGrad(&convDataGradOp{st: st}, dh, w, dx)
				convFilterGrad(st, x, dh, dw)
				return out, dx, dw
			}
			if _, ok := directGrad(g, x); !ok && convkernel.Wide() {
				t.Fatal("the weight-gradient kernel does not take this geometry")
			}
			out1, dx1, dw1 := run(true)
			out2, dx2, dw2 := run(false)
			sameRoute(t, "output", out1, out2, g.k())
			sameRoute(t, "input gradient", dx1, dx2, g.kh*g.kw*g.cout)
			sameRoute(t, "weight gradient", dw1, dw2, g.rows())
		})
	}
}

// The weight gradient sums its per-range partial gradients in image order, so repeated runs
// give the same bits however the ranges were scheduled over the cores, by the direct kernel
// and by the patch route.
func TestFilterGradientIsDeterministic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	g := convGeom{n: 24, h: 8, w: 8, c: 16, kh: 3, kw: 3, s: 1, p: 1, oh: 8, ow: 8, cout: 16}
	r := rand.New(rand.NewPCG(21, 22))
	x, dh := make([]float32, g.pixels()*g.c), make([]float32, g.rows()*g.cout)
	fillNormal(r, x, dh)
	for _, direct := range []bool{true, false} {
		func() {
			defer func(old bool) { useDirect = old }(useDirect)
			useDirect = direct
			st := &convState{g: g}
			first := make([]float32, g.k()*g.cout)
			convFilterGrad(st, x, dh, first)
			for range 20 {
				again := make([]float32, len(first))
				convFilterGrad(st, x, dh, again)
				for i := range first {
					if math.Float32bits(again[i]) != math.Float32bits(first[i]) {
						t.Fatalf("direct=%v: dw[%d] = %v, then %v", direct, i, first[i], again[i])
					}
				}
			}
		}()
	}
}

// With AVX-512 the direct kernels also take strided convolutions, forward (over phase planes)
// and weight gradient, and give the patch route's results up to float32 rounding: a CIFAR
// ResNet's stage transitions (3×3 and 1×1 projection, stride 2) and a 5×5 stride-3 case.
func TestStridedConvolutionMatchesPatchRoute(t *testing.T) {
	if !convkernel.Wide() {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(23, 24))
	for _, g := range []convGeom{
		{n: 2, h: 32, w: 32, c: 16, kh: 3, kw: 3, s: 2, p: 1, cout: 32},
		{n: 2, h: 32, w: 32, c: 16, kh: 1, kw: 1, s: 2, p: 0, cout: 32},
		{n: 3, h: 17, w: 17, c: 4, kh: 5, kw: 5, s: 3, p: 2, cout: 16},
	} {
		g.oh, g.ow = (g.h+2*g.p-g.kh)/g.s+1, (g.w+2*g.p-g.kw)/g.s+1
		x, w, dh := make([]float32, g.pixels()*g.c), make([]float32, g.k()*g.cout), make([]float32, g.rows()*g.cout)
		fillNormal(r, x, w, dh)
		if _, ok := directGrad(g, x); !ok {
			t.Fatalf("%+v: the weight-gradient kernel does not take it", g)
		}
		if !directConv(g, x, w, make([]float32, g.rows()*g.cout), &convkernel.Weights{}) {
			t.Fatalf("%+v: the direct kernel does not take it", g)
		}
		run := func(direct bool) (out, dw []float32) {
			defer func(old bool) { useDirect = old }(useDirect)
			useDirect = direct
			st := &convState{g: g}
			out, dw = make([]float32, g.rows()*g.cout), make([]float32, g.k()*g.cout)
			convForward(&convOp{st: st}, x, w, nil, out)
			convFilterGrad(st, x, dh, dw)
			return out, dw
		}
		out1, dw1 := run(true)
		out2, dw2 := run(false)
		sameRoute(t, fmt.Sprintf("%+v: output", g), out1, out2, g.k())
		sameRoute(t, fmt.Sprintf("%+v: weight gradient", g), dw1, dw2, g.rows())
	}
}

// sameRoute fails t unless the direct route's values got equal the patch route's want up to
// float32 rounding of sums of terms products of unit normals.
func sameRoute(t *testing.T, what string, got, want []float32, terms int) {
	t.Helper()
	tol := 1e-5 * math.Sqrt(float64(terms)) * 3
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= tol) {
			t.Fatalf("%s[%d]: direct %v, patch route %v", what, i, got[i], want[i])
		}
	}
}

// fillNormal fills each slice with standard normal values from r.
func fillNormal(r *rand.Rand, vs ...[]float32) {
	for _, v := range vs {
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
	}
}
