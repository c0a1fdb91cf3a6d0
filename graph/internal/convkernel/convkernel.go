// Package convkernel is a direct convolution for float32 images in channels-last layout, with
// stride 1: an AVX2/FMA micro-kernel computes a 6-pixel × 16-channel tile of the output by
// reading the (padded) input where it lies, so that no patch matrix is built or packed.
//
// The trick that makes the input an ordinary strided operand is to compute the output over
// the padded width: with Wp the padded row length, output pixel q = i·Wp + j reads input pixel
// q + u·Wp + v for kernel offset (u, v), so six consecutive q are six consecutive input
// pixels for every offset. The columns j ≥ the output width are computed and dropped.
package convkernel

import (
	"fmt"
	"sync"
)

// Available reports whether the kernel runs on this machine.
func Available() bool { return haveKernel }

// Geometry is one stride-1 convolution: an N×H×W×C input, a KH×KW kernel, padding P on every
// side, Out output channels (a multiple of 16).
type Geometry struct {
	N, H, W, C, KH, KW, P, Out int
}

// OH and OW are the output's height and width.
func (g Geometry) OH() int { return g.H + 2*g.P - g.KH + 1 }
func (g Geometry) OW() int { return g.W + 2*g.P - g.KW + 1 }

// Supported reports whether Forward handles g.
func (g Geometry) Supported() bool {
	return haveKernel && g.Out > 0 && g.Out%16 == 0 && g.C > 0 && g.KH > 0 && g.KW > 0 && g.P >= 0 &&
		g.OH() > 0 && g.OW() > 0
}

// Weights are a convolution's weights packed for the kernel: for each block of 16 output
// channels, the (KH·KW·C)×16 rows of that block.
type Weights struct {
	g    Geometry
	data []float32
}

// Pack packs w, (KH·KW·C)×Out row-major with rows in (u, v, c) order, into p (reusing its
// storage).
func (p *Weights) Pack(g Geometry, w []float32) {
	k := g.KH * g.KW * g.C
	if len(w) != k*g.Out {
		panic(fmt.Sprintf("convkernel: %d weights for %d×%d", len(w), k, g.Out))
	}
	if cap(p.data) < len(w) {
		p.data = make([]float32, len(w))
	}
	p.g, p.data = g, p.data[:len(w)]
	for n0 := 0; n0 < g.Out; n0 += 16 {
		blk := p.data[n0*k : (n0+16)*k]
		for r := 0; r < k; r++ {
			copy(blk[r*16:(r+1)*16], w[r*g.Out+n0:r*g.Out+n0+16])
		}
	}
}

// scratch is one worker's padded image and wide output.
type scratch struct{ pad, wide []float32 }

var pool = sync.Pool{New: func() any { return new(scratch) }}

// Forward sets out (N×OH×OW×Out) to the convolution of images [b0, b1) of x (N×H×W×C) with
// the packed weights w.
func Forward(g Geometry, x []float32, w *Weights, out []float32, b0, b1 int) {
	if !g.Supported() || w.g != g {
		panic(fmt.Sprintf("convkernel: geometry %+v not supported or weights packed for %+v", g, w.g))
	}
	oh, ow := g.OH(), g.OW()
	hp, wp := g.H+2*g.P, g.W+2*g.P
	if len(x) < g.N*g.H*g.W*g.C || len(out) < g.N*oh*ow*g.Out || b0 < 0 || b1 > g.N {
		panic("convkernel: input or output too short")
	}
	taps := g.KH * g.KW
	offs := make([]int, taps)
	for u := 0; u < g.KH; u++ {
		for v := 0; v < g.KW; v++ {
			offs[u*g.KW+v] = (u*wp + v) * g.C * 4
		}
	}
	mw := (oh*wp + 5) / 6 * 6 // wide output rows, whole tiles
	// The last tile reads up to (mw−1) + (KH−1)·Wp + KW−1 pixels past the start of the padded
	// image: zeros beyond it.
	padPixels := max(hp*wp, mw+(g.KH-1)*wp+g.KW)
	s := pool.Get().(*scratch)
	defer pool.Put(s)
	s.pad = grow(s.pad, padPixels*g.C)
	s.wide = grow(s.wide, mw*g.Out)
	clear(s.pad)
	k := taps * g.C
	for b := b0; b < b1; b++ {
		img := x[b*g.H*g.W*g.C:]
		for i := 0; i < g.H; i++ {
			copy(s.pad[((i+g.P)*wp+g.P)*g.C:((i+g.P)*wp+g.P+g.W)*g.C], img[i*g.W*g.C:(i+1)*g.W*g.C])
		}
		for q := 0; q < mw; q += 6 {
			for n0 := 0; n0 < g.Out; n0 += 16 {
				kernel6x16(taps, &offs[0], g.C, &s.pad[q*g.C], g.C*4, &w.data[n0*k], &s.wide[q*g.Out+n0], g.Out)
			}
		}
		o := out[b*oh*ow*g.Out:]
		for i := 0; i < oh; i++ {
			copy(o[i*ow*g.Out:(i+1)*ow*g.Out], s.wide[i*wp*g.Out:(i*wp+ow)*g.Out])
		}
	}
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
