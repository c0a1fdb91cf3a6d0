// Package convkernel is a direct convolution for float32 images in channels-last layout and
// its weight gradient, without patch matrices.
//
// Forward (stride 1): an AVX-512 or AVX2/FMA micro-kernel computes a tile of the output (28
// pixels × 16 channels, 14 × 32, or on AVX2 6 × 16) by reading the padded input where it lies.
// The trick that makes the input an ordinary strided operand is to compute the output over
// the padded width: with Wp the padded row length, output pixel q = i·Wp + j reads input pixel
// q + u·Wp + v for kernel offset (u, v), so consecutive q are consecutive input pixels for
// every offset. The columns j ≥ the output width are computed and dropped. On AVX-512 the
// kernels are specialised to the padded image's pixel stride (kernel_avx512_amd64.s, written
// by gen).
//
// WeightGrad (any stride, AVX-512): per kernel offset, a reduction over output rows of the
// padded input's strided row times ∂L/∂h's row, input channels × output channels in
// registers.
package convkernel

import (
	"fmt"
	"sync"

	"github.com/lwca/lwca/graph/internal/vec"
)

// Available reports whether the kernel runs on this machine.
func Available() bool { return haveKernel }

// Wide reports whether the kernel uses the AVX-512 tiles, which are about twice as fast as the
// AVX2 one; callers weigh it against other routes.
func Wide() bool { return haveKernel && useAVX512 }

// Geometry is one convolution: an N×H×W×C input, a KH×KW kernel, padding P on every side,
// Out output channels (a multiple of 16), stride S (0 means 1).
type Geometry struct {
	N, H, W, C, KH, KW, P, Out, S int
}

func (g Geometry) stride() int { return max(g.S, 1) }

// OH and OW are the output's height and width.
func (g Geometry) OH() int { return (g.H+2*g.P-g.KH)/g.stride() + 1 }
func (g Geometry) OW() int { return (g.W+2*g.P-g.KW)/g.stride() + 1 }

// Supported reports whether Forward handles g.
func (g Geometry) Supported() bool { return g.valid() }

// GradSupported reports whether WeightGrad handles g: any stride, with the AVX-512 kernels.
func (g Geometry) GradSupported() bool { return Wide() && g.valid() }

// valid reports whether g is a convolution the kernels take and the CPU runs them.
func (g Geometry) valid() bool {
	return haveKernel && g.Out > 0 && g.Out%16 == 0 && g.C > 0 && g.KH > 0 && g.KW > 0 && g.P >= 0 &&
		g.S >= 0 && g.H+2*g.P >= g.KH && g.W+2*g.P >= g.KW
}

// tile is a micro-kernel and the output block it computes: pixels consecutive (wide) output
// pixels × width consecutive channels, reading a padded image whose pixels are stride values
// apart.
type tile struct {
	pixels, width, stride int
	kernel                kernelFunc
}

// kernelFunc sets a tile of out (row stride ldo values) to
// Σ_t Σ_c a[offs[t] + r·stride + 4c] · b[(t·C + c)·width + j], a, offs and stride in bytes.
type kernelFunc func(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)

// Weights are a convolution's weights packed for the kernel: for each block of output
// channels as wide as the kernel's tile, the (KH·KW·C) rows of that block.
type Weights struct {
	g     Geometry
	width int
	data  []float32
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
	nb := tileFor(g.Out, g.C).width
	p.g, p.width, p.data = g, nb, p.data[:len(w)]
	for n0 := 0; n0 < g.Out; n0 += nb {
		blk := p.data[n0*k : (n0+nb)*k]
		for r := 0; r < k; r++ {
			copy(blk[r*nb:(r+1)*nb], w[r*g.Out+n0:r*g.Out+n0+nb])
		}
	}
}

// scratch is one worker's padded image and wide output.
type scratch struct{ pad, wide []float32 }

var pool = sync.Pool{New: func() any { return new(scratch) }}

// Forward sets out (N×OH×OW×Out) to the convolution of images [b0, b1) of x (N×H×W×C) with
// the packed weights w.
//
// With stride S > 1 the padded image is first split into S² phase planes, plane (a, b)
// holding its pixels (S·y + a, S·z + b), each pw = ⌈Wp/S⌉ pixels wide. Offset (u, v) then
// reads plane (u mod S, v mod S) at (i + ⌊u/S⌋, j + ⌊v/S⌋): a stride-1 access, to which the
// wide trick applies over the planes' width.
func Forward(g Geometry, x []float32, w *Weights, out []float32, b0, b1 int) {
	t := tileFor(g.Out, g.C)
	if !g.Supported() || w.g != g || w.width != t.width {
		panic(fmt.Sprintf("convkernel: geometry %+v not supported or weights packed for %+v (%d wide)", g, w.g, w.width))
	}
	oh, ow, st := g.OH(), g.OW(), g.stride()
	ph, pw := g.plane(st)
	if len(x) < g.N*g.H*g.W*g.C || len(out) < g.N*oh*ow*g.Out || b0 < 0 || b1 > g.N {
		panic("convkernel: input or output too short")
	}
	taps, ps := g.KH*g.KW, t.stride // ps: the padded image's pixel stride, ≥ C values
	offs := make([]int, taps)
	reach := 0 // the farthest pixel a tap reads, from a tile's first
	for u := 0; u < g.KH; u++ {
		for v := 0; v < g.KW; v++ {
			px := ((u%st)*st+v%st)*ph*pw + (u/st)*pw + v/st
			offs[u*g.KW+v] = px * ps * 4
			reach = max(reach, px)
		}
	}
	mw := (oh*pw + t.pixels - 1) / t.pixels * t.pixels // wide output pixels, whole tiles
	// The last tile reads up to mw−1 + reach pixels past the start of the padded image (for
	// S > 1, its planes): zeros beyond it.
	s := pool.Get().(*scratch)
	defer pool.Put(s)
	s.pad = grow(s.pad, max(st*st*ph*pw, mw+reach)*ps)
	s.wide = grow(s.wide, mw*g.Out)
	clear(s.pad)
	k := taps * g.C
	for b := b0; b < b1; b++ {
		g.pad(s.pad, x[b*g.H*g.W*g.C:], st, ps)
		for q := 0; q < mw; q += t.pixels {
			for n0 := 0; n0 < g.Out; n0 += t.width {
				t.kernel(taps, &offs[0], g.C, &s.pad[q*ps], ps*4, &w.data[n0*k], &s.wide[q*g.Out+n0], g.Out)
			}
		}
		o := out[b*oh*ow*g.Out:]
		for i := 0; i < oh; i++ {
			copy(o[i*ow*g.Out:(i+1)*ow*g.Out], s.wide[i*pw*g.Out:(i*pw+ow)*g.Out])
		}
	}
}

// RowWidth is how many output pixels Forward computes per output row: the padded row's (or,
// with a stride, a phase plane's) width, of which OW are kept.
func (g Geometry) RowWidth() int {
	_, pw := g.plane(g.stride())
	return pw
}

// plane is the height and width of one of the padded image's st² phase planes.
func (g Geometry) plane(st int) (ph, pw int) {
	return (g.H + 2*g.P + st - 1) / st, (g.W + 2*g.P + st - 1) / st
}

// pad copies image img (H×W×C) into the interior of dst, the padded image split into st²
// phase planes (st = 1: the padded image itself) with pixels ps values apart; the border, the
// channels past C and the planes' spare pixels keep their values (zeros).
func (g Geometry) pad(dst, img []float32, st, ps int) {
	ph, pw := g.plane(st)
	for i := 0; i < g.H; i++ {
		row, r := img[i*g.W*g.C:(i+1)*g.W*g.C], i+g.P
		plane := dst[((r%st)*st*ph*pw+(r/st)*pw)*ps:]
		if st == 1 && ps == g.C {
			copy(plane[g.P*ps:], row)
			continue
		}
		// Columns j with (j + P) mod st = c go to plane (r mod st, c), every st-th one.
		for c := 0; c < st; c++ {
			j0 := ((c-g.P)%st + st) % st
			if n := (g.W - j0 + st - 1) / st; n > 0 {
				vec.CopyBlocks(plane[(c*ph*pw+(j0+g.P)/st)*ps:], row[j0*g.C:], g.C, n, ps, st*g.C)
			}
		}
	}
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// gradTile is a weight-gradient micro-kernel and the block of the gradient it accumulates:
// rows consecutive input channels of one kernel offset × width consecutive output channels.
type gradTile struct {
	rows, width int
	kernel      func(n, rows int, a *float32, lda, arow int, b *float32, ldb, brow int, out *float32, ldo int)
}

// gradScratch is one worker's padded image and gradient accumulator.
type gradScratch struct{ pad, acc []float32 }

var gradPool = sync.Pool{New: func() any { return new(gradScratch) }}

// WeightGrad sets dw ((KH·KW·C)×Out, rows in (u, v, c) order) to the weight gradient of images
// [b0, b1) of x: the sum over their output pixels of each input patch times ∂L/∂h (dh,
// N×OH×OW×Out). It needs the AVX-512 kernels (GradSupported).
//
// With stride S the gradient of offset (u, v) is Σ_(i,j) pad[S·i+u, S·j+v, c]·dh[i, j, o]:
// over each output row a product of two strided matrices, every S-th pixel of the padded
// image's row S·i+u from column v and dh's row i, which the kernel reduces over a block of
// rows, rows input channels and width outputs at a time. The blocks are small enough that
// their image and gradient rows stay in L1 across all offsets.
func WeightGrad(g Geometry, x, dh, dw []float32, b0, b1 int) {
	if !g.GradSupported() {
		panic(fmt.Sprintf("convkernel: weight gradient of %+v not supported here", g))
	}
	oh, ow, hp, wp := g.OH(), g.OW(), g.H+2*g.P, g.W+2*g.P
	taps, k := g.KH*g.KW, g.KH*g.KW*g.C
	if len(x) < g.N*g.H*g.W*g.C || len(dh) < g.N*oh*ow*g.Out || len(dw) != k*g.Out || b0 < 0 || b1 > g.N {
		panic("convkernel: input, output gradient or weight gradient of the wrong size")
	}
	t := gradTileFor(g.Out)
	cpad := (g.C + t.rows - 1) / t.rows * t.rows // channels rounded up to whole tiles
	s := gradPool.Get().(*gradScratch)
	defer gradPool.Put(s)
	// A tile's last rows read up to cpad−C values past the padded image's last pixel: zeros.
	s.pad = grow(s.pad, hp*wp*g.C+cpad)
	s.acc = grow(s.acc, taps*cpad*g.Out)
	clear(s.pad)
	clear(s.acc)
	st := g.stride()
	perBlock := max(1, 8192/(st*wp*g.C+ow*g.Out)) // rows of about 32 KB of image and gradient
	blocks := (oh + perBlock - 1) / perBlock
	height := (oh + blocks - 1) / blocks // nearly equal heights
	for b := b0; b < b1; b++ {
		g.pad(s.pad, x[b*g.H*g.W*g.C:], 1, g.C) // one plane: strides are read in place
		d := dh[b*oh*ow*g.Out:]
		for i0 := 0; i0 < oh; i0 += height {
			rows := min(height, oh-i0)
			for u := 0; u < g.KH; u++ {
				for v := 0; v < g.KW; v++ {
					a := ((st*i0+u)*wp + v) * g.C
					acc := s.acc[(u*g.KW+v)*cpad*g.Out:]
					for c0 := 0; c0 < g.C; c0 += t.rows {
						for n0 := 0; n0 < g.Out; n0 += t.width {
							t.kernel(ow, rows, &s.pad[a+c0], st*g.C*4, st*wp*g.C*4,
								&d[i0*ow*g.Out+n0], g.Out*4, ow*g.Out*4, &acc[c0*g.Out+n0], g.Out)
						}
					}
				}
			}
		}
	}
	for tap := 0; tap < taps; tap++ {
		copy(dw[tap*g.C*g.Out:(tap+1)*g.C*g.Out], s.acc[tap*cpad*g.Out:])
	}
}
