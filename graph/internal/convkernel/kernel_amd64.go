package convkernel

import "golang.org/x/sys/cpu"

var (
	haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	haveAVX512 = cpu.X86.HasAVX512F
)

// useAVX512 selects the AVX-512 tiles where the CPU has them; tests turn it off to check the
// AVX2 tile on the same machine.
var useAVX512 = haveAVX512

// tileFor picks the micro-kernel for out output channels (a multiple of 16): on AVX-512 the
// 14×32 tile when out is a multiple of 32 and the 28×16 tile otherwise, each holding 28
// accumulator registers; on AVX2 the 6×16 tile.
func tileFor(out int) tile {
	switch {
	case useAVX512 && out%32 == 0:
		return tile{pixels: 14, width: 32, kernel: kernel14x32}
	case useAVX512:
		return tile{pixels: 28, width: 16, kernel: kernel28x16}
	}
	return tile{pixels: 6, width: 16, kernel: kernel6x16}
}

// kernel6x16 sets the 6×16 tile out (row stride ldo values) to
// Σ_t Σ_c a[offs[t] + r·stride + 4c] · b[(t·C + c)·16 + j], a and offs in bytes.
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
