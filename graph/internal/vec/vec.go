// Package vec holds the float32 element-wise kernels of graph's rectifier and BatchNorm ops,
// in AVX2 assembly where the CPU has it. Every kernel computes exactly what its Go reference
// computes, operation by operation and in the same order (no fused multiply-adds), so results
// do not depend on the machine; the tests check that bit for bit.
package vec

import (
	"fmt"
	"math"
)

// Relu sets dst[i] = max(src[i], 0), as Go's max: +0 for −0, NaN stays NaN.
func Relu(dst, src []float32) {
	same("Relu", len(dst), len(src))
	n := 0
	if haveAVX2 {
		if n = len(src) &^ 7; n > 0 {
			reluAVX2(&dst[0], &src[0], n)
		}
	}
	reluGo(dst[n:], src[n:])
}

// ReluGrad sets dst[i] = dy[i] where the bits of the rectifier's output y[i] are not all zero,
// else +0: Relu's outputs are ≥ 0 and never −0, so that is where y[i] > 0 (or NaN).
func ReluGrad(dst, y, dy []float32) {
	same("ReluGrad", len(dst), len(y), len(dy))
	n := 0
	if haveAVX2 {
		if n = len(y) &^ 7; n > 0 {
			reluGradAVX2(&dst[0], &y[0], &dy[0], n)
		}
	}
	reluGradGo(dst[n:], y[n:], dy[n:])
}

// ScaleShiftRows sets dst[r,j] = src[r,j]·scale[j] + shift[j] for the rows of the row-major
// matrices dst and src, whose row length is len(scale).
func ScaleShiftRows(dst, src, scale, shift []float32) {
	c := len(scale)
	same("ScaleShiftRows", len(dst), len(src))
	same("ScaleShiftRows coefficients", c, len(shift))
	rows := rowsOf("ScaleShiftRows", len(src), c)
	if haveAVX2 && c%8 == 0 && rows > 0 {
		scaleShiftAVX2(&dst[0], &src[0], &scale[0], &shift[0], rows, c)
		return
	}
	scaleShiftGo(dst, src, scale, shift)
}

// LinearRows sets dst[r,j] = (a[j]·u[r,j] + b[j]·v[r,j]) + d[j] for the rows of the row-major
// matrices dst, u and v, whose row length is len(a).
func LinearRows(dst, u, v, a, b, d []float32) {
	c := len(a)
	same("LinearRows", len(dst), len(u), len(v))
	same("LinearRows coefficients", c, len(b), len(d))
	rows := rowsOf("LinearRows", len(u), c)
	if haveAVX2 && c%8 == 0 && rows > 0 {
		linearAVX2(&dst[0], &u[0], &v[0], &a[0], &b[0], &d[0], rows, c)
		return
	}
	linearGo(dst, u, v, a, b, d)
}

// ColumnMoments adds, for each column j of the row-major matrix x (row length len(shift)),
// Σ_r (x[r,j] − shift[j]) to sum[j] and Σ_r (x[r,j] − shift[j])² to sumSq[j], in float64 and
// row order.
func ColumnMoments(x []float32, shift, sum, sumSq []float64) {
	c := len(shift)
	same("ColumnMoments", c, len(sum), len(sumSq))
	rows := rowsOf("ColumnMoments", len(x), c)
	j := 0
	if haveAVX2 && rows > 0 {
		for ; j+16 <= c; j += 16 {
			momentsAVX2(&x[j], rows, c, &shift[j], &sum[j], &sumSq[j])
		}
	}
	if j < c {
		momentsGo(x, c, j, shift, sum, sumSq)
	}
}

// ColumnCross adds, for each column j of the row-major matrices x and dy (row length
// len(mean)), Σ_r dy[r,j] to sumDy[j] and Σ_r dy[r,j]·(x[r,j] − mean[j]) to sumDyX[j], in
// float64 and row order.
func ColumnCross(x, dy []float32, mean, sumDy, sumDyX []float64) {
	c := len(mean)
	same("ColumnCross", len(x), len(dy))
	same("ColumnCross sums", c, len(sumDy), len(sumDyX))
	rows := rowsOf("ColumnCross", len(x), c)
	j := 0
	if haveAVX2 && rows > 0 {
		for ; j+16 <= c; j += 16 {
			crossAVX2(&x[j], &dy[j], rows, c, &mean[j], &sumDy[j], &sumDyX[j])
		}
	}
	if j < c {
		crossGo(x, dy, c, j, mean, sumDy, sumDyX)
	}
}

func same(what string, n int, others ...int) {
	for _, m := range others {
		if m != n {
			panic(fmt.Sprintf("vec: %s: lengths %d and %d differ", what, n, m))
		}
	}
}

func rowsOf(what string, n, c int) int {
	if c <= 0 || n%c != 0 {
		panic(fmt.Sprintf("vec: %s: %d values are not rows of %d", what, n, c))
	}
	return n / c
}

// The Go references, also the fallbacks. Explicit conversions round every product, so that
// no compiler fuses a multiply-add the assembly does not.

func reluGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = max(v, 0)
	}
}

// reluGradGo masks dy's bits with all ones where y's bits are not zero; a branch would be
// mispredicted on random signs.
func reluGradGo(dst, y, dy []float32) {
	dst, dy = dst[:len(y)], dy[:len(y)]
	for i, v := range y {
		b := math.Float32bits(v)
		dst[i] = math.Float32frombits(math.Float32bits(dy[i]) & uint32(int32(b|-b)>>31))
	}
}

func scaleShiftGo(dst, src, scale, shift []float32) {
	c := len(scale)
	for r := 0; r < len(src)/c; r++ {
		s, d := src[r*c:(r+1)*c], dst[r*c:(r+1)*c]
		for j, v := range s {
			d[j] = float32(v*scale[j]) + shift[j]
		}
	}
}

func linearGo(dst, u, v, a, b, d []float32) {
	c := len(a)
	for r := 0; r < len(u)/c; r++ {
		ur, vr, o := u[r*c:(r+1)*c], v[r*c:(r+1)*c], dst[r*c:(r+1)*c]
		for j, x := range ur {
			o[j] = float32(a[j]*x) + float32(b[j]*vr[j]) + d[j]
		}
	}
}

// momentsGo handles columns j0 and up.
func momentsGo(x []float32, c, j0 int, shift, sum, sumSq []float64) {
	for r := 0; r < len(x)/c; r++ {
		row := x[r*c : (r+1)*c]
		for j := j0; j < c; j++ {
			d := float64(row[j]) - shift[j]
			sum[j] += d
			sumSq[j] += float64(d * d)
		}
	}
}

// crossGo handles columns j0 and up.
func crossGo(x, dy []float32, c, j0 int, mean, sumDy, sumDyX []float64) {
	for r := 0; r < len(x)/c; r++ {
		xr, dr := x[r*c:(r+1)*c], dy[r*c:(r+1)*c]
		for j := j0; j < c; j++ {
			d := float64(dr[j])
			sumDy[j] += d
			sumDyX[j] += float64(d * (float64(xr[j]) - mean[j]))
		}
	}
}

// CopyBlocks copies count blocks of n values from src to dst, the i-th from src[i·srcStride:]
// to dst[i·dstStride:]: the interior of a patch-matrix row band, one kernel row at a time.
func CopyBlocks(dst, src []float32, n, count, dstStride, srcStride int) {
	if count <= 0 || n <= 0 {
		return
	}
	if n > dstStride && count > 1 || dstStride < 0 || srcStride < 0 ||
		(count-1)*dstStride+n > len(dst) || (count-1)*srcStride+n > len(src) {
		panic(fmt.Sprintf("vec: CopyBlocks: %d blocks of %d with strides %d and %d do not fit %d and %d values",
			count, n, dstStride, srcStride, len(dst), len(src)))
	}
	if haveAVX2 && n%8 == 0 {
		copyBlocksAVX2(&dst[0], &src[0], n, count, dstStride, srcStride)
		return
	}
	copyBlocksGo(dst, src, n, count, dstStride, srcStride)
}

func copyBlocksGo(dst, src []float32, n, count, dstStride, srcStride int) {
	for i := range count {
		copy(dst[i*dstStride:i*dstStride+n], src[i*srcStride:i*srcStride+n])
	}
}
