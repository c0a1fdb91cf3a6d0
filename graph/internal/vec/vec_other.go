//go:build !amd64

package vec

const haveAVX2 = false

func addAVX2(dst, a, b *float32, n int)                                        { panic("vec: no AVX2") }
func reluAVX2(dst, src *float32, n int)                                        { panic("vec: no AVX2") }
func reluGradAVX2(dst, y, dy *float32, n int)                                  { panic("vec: no AVX2") }
func scaleShiftAVX2(dst, src, scale, shift *float32, rows, c int)              { panic("vec: no AVX2") }
func linearAVX2(dst, u, v, a, b, d *float32, rows, c int)                      { panic("vec: no AVX2") }
func momentsAVX2(x *float32, rows, stride int, shift, sum, sumSq *float64)     { panic("vec: no AVX2") }
func crossAVX2(x, dy *float32, rows, stride int, mean, sumDy, sumDyX *float64) { panic("vec: no AVX2") }

func copyBlocksAVX2(dst, src *float32, n, count, dstStride, srcStride int) { panic("vec: no AVX2") }

func scaleShiftReluAVX2(dst, src, scale, shift *float32, rows, c int) { panic("vec: no AVX2") }
func linearGatedAVX2(dst, u, v, a, b, d, scale, shift *float32, rows, c int) {
	panic("vec: no AVX2")
}
func crossGatedAVX2(x, dy *float32, rows, stride int, mean, sumDy, sumDyX *float64, scale, shift *float32) {
	panic("vec: no AVX2")
}
func addReluAVX2(dst, a, b *float32, n int) { panic("vec: no AVX2") }
