package vec

import "golang.org/x/sys/cpu"

// haveAVX2 reports whether the assembly kernels can run (cpu checks that the operating system
// saves the YMM registers).
var haveAVX2 = cpu.X86.HasAVX2

//go:noescape
func addAVX2(dst, a, b *float32, n int)

//go:noescape
func addReluAVX2(dst, a, b *float32, n int)

//go:noescape
func reluAVX2(dst, src *float32, n int)

//go:noescape
func reluGradAVX2(dst, y, dy *float32, n int)

//go:noescape
func scaleShiftAVX2(dst, src, scale, shift *float32, rows, c int)

//go:noescape
func linearAVX2(dst, u, v, a, b, d *float32, rows, c int)

//go:noescape
func momentsAVX2(x *float32, rows, stride int, shift, sum, sumSq *float64)

//go:noescape
func crossAVX2(x, dy *float32, rows, stride int, mean, sumDy, sumDyX *float64)

//go:noescape
func copyBlocksAVX2(dst, src *float32, n, count, dstStride, srcStride int)

//go:noescape
func scaleShiftReluAVX2(dst, src, scale, shift *float32, rows, c int)

//go:noescape
func linearGatedAVX2(dst, u, v, a, b, d, scale, shift *float32, rows, c int)

//go:noescape
func crossGatedAVX2(x, dy *float32, rows, stride int, mean, sumDy, sumDyX *float64, scale, shift *float32)
