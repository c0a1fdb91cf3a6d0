package graph

import (
	"fmt"
	"math/rand/v2"
	"testing"
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
