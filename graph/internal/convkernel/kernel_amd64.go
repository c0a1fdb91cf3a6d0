//go:generate go run ./gen

package convkernel

import "golang.org/x/sys/cpu"

var (
	haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	haveAVX512 = cpu.X86.HasAVX512F
)

// useAVX512 selects the AVX-512 tiles where the CPU has them; tests turn it off to check the
// AVX2 tile on the same machine. Unsynchronised: no test calls t.Parallel (.ci/run checks).
var useAVX512 = haveAVX512

// tileFor picks the micro-kernel for out output channels (a multiple of 16) and c input
// channels: on AVX-512 the 14×32 tile when out is a multiple of 32 and the 28×16 tile
// otherwise, each holding 28 accumulator registers, specialised to the padded image's pixel
// stride when c ≤ 128 (the pixels then lie 16, 32, 64 or 128 values apart, the channels past c
// zero); on AVX2 the 6×16 tile.
func tileFor(out, c int) tile {
	if !useAVX512 {
		return tile{pixels: 6, width: 16, stride: c, kernel: kernel6x16}
	}
	t := tile{pixels: 28, width: 16, stride: c, kernel: kernel28x16}
	if out%32 == 0 {
		t = tile{pixels: 14, width: 32, stride: c, kernel: kernel14x32}
	}
	for i, s := range []int{16, 32, 64, 128} {
		if c <= s {
			t.stride, t.kernel = s, fixedKernels[i][t.width/32]
			break
		}
	}
	return t
}

// fixedKernels are the stride-specialised kernels (kernel_avx512_amd64.s) by stride (16, 32, 64,
// 128 values) and tile (28×16, 14×32).
var fixedKernels = [4][2]kernelFunc{
	{kernel28x16s64, kernel14x32s64},
	{kernel28x16s128, kernel14x32s128},
	{kernel28x16s256, kernel14x32s256},
	{kernel28x16s512, kernel14x32s512},
}

// kernel6x16 is a kernelFunc for a 6-pixel × 16-channel tile (AVX2).
//
//go:noescape
func kernel6x16(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)

// kernel28x16 is kernel6x16 for a 28-pixel × 16-channel tile (AVX-512).
//
//go:noescape
func kernel28x16(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)

// kernel14x32 is kernel6x16 for a 14-pixel × 32-channel tile, b's rows 32 values (AVX-512).
//
//go:noescape
func kernel14x32(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)

// gradTileFor picks the weight-gradient micro-kernel for out output channels (a multiple of
// 16), AVX-512 only: 8 input channels × 32 outputs when out is a multiple of 32, else 16 × 16.
func gradTileFor(out int) gradTile {
	if out%32 == 0 {
		return gradTile{rows: 8, width: 32, kernel: kernelAtB8x32}
	}
	return gradTile{rows: 16, width: 16, kernel: kernelAtB16x16}
}

// kernelAtB16x16 adds to the 16×16 tile out (row stride ldo values)
// Σ_r Σ_i a[r·arow + i·lda + 4c]·b[r·brow + i·ldb + 4j] over rows r and n pixels i, strides in
// bytes (AVX-512).
//
//go:noescape
func kernelAtB16x16(n, rows int, a *float32, lda, arow int, b *float32, ldb, brow int, out *float32, ldo int)

// kernelAtB8x32 is kernelAtB16x16 for an 8×32 tile (AVX-512).
//
//go:noescape
func kernelAtB8x32(n, rows int, a *float32, lda, arow int, b *float32, ldb, brow int, out *float32, ldo int)

// The stride-specialised kernels: pixels 64, 128, 256 or 512 bytes apart.

//go:noescape
func kernel28x16s64(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)

//go:noescape
func kernel14x32s64(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)

//go:noescape
func kernel28x16s128(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)

//go:noescape
func kernel14x32s128(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)

//go:noescape
func kernel28x16s256(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)

//go:noescape
func kernel14x32s256(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)

//go:noescape
func kernel28x16s512(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)

//go:noescape
func kernel14x32s512(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)
