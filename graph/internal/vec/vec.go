// Package vec holds the element-wise kernels of graph's rectifier and BatchNorm ops, for
// float32 and float64, with AVX2 assembly for float32 where the CPU has it. The assembly
// computes exactly what the Go reference computes, operation by operation and in the same
// order (no fused multiply-adds), so results do not depend on the machine; the tests check
// that bit for bit.
package vec

import (
	"fmt"
	"math"
)

// Float is the element type of the kernels.
type Float interface{ ~float32 | ~float64 }

// f32 returns s as float32 values when the assembly can take them.
func f32[T Float](s []T) ([]float32, bool) {
	v, ok := any(s).([]float32)
	return v, ok && haveAVX2
}

// simdLen is how many leading values of s the element-wise assembly takes (whole registers of
// eight float32); 0 when it does not run.
func simdLen[T Float](s []T) int {
	if _, ok := f32(s); ok {
		return len(s) &^ 7
	}
	return 0
}

// p32 is the address of float32 data s[0], for the assembly (which f32 has admitted).
func p32[T Float](s []T) *float32 { return &any(s).([]float32)[0] }

// Add sets dst[i] = a[i] + b[i]; dst may be a or b.
func Add[T Float](dst, a, b []T) {
	same("Add", len(dst), len(a), len(b))
	if n := simdLen(a); n > 0 {
		addAVX2(p32(dst), p32(a), p32(b), n)
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	addGo(dst, a, b)
}

// AddRelu sets dst[i] = max(a[i] + b[i], 0), rounded as Add and then Relu; dst may be a or b.
func AddRelu[T Float](dst, a, b []T) {
	same("AddRelu", len(dst), len(a), len(b))
	if n := simdLen(a); n > 0 {
		addReluAVX2(p32(dst), p32(a), p32(b), n)
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	addReluGo(dst, a, b)
}

// Relu sets dst[i] = max(src[i], 0): +0 for −0, a NaN stays that NaN.
func Relu[T Float](dst, src []T) {
	same("Relu", len(dst), len(src))
	if n := simdLen(src); n > 0 {
		reluAVX2(p32(dst), p32(src), n)
		dst, src = dst[n:], src[n:]
	}
	reluGo(dst, src)
}

// ReluGrad sets dst[i] = dy[i] where the bits of the rectifier's output y[i] are not all zero,
// else +0: Relu's outputs are ≥ 0 and never −0, so that is where y[i] > 0 (or NaN).
func ReluGrad[T Float](dst, y, dy []T) {
	same("ReluGrad", len(dst), len(y), len(dy))
	if n := simdLen(y); n > 0 {
		reluGradAVX2(p32(dst), p32(y), p32(dy), n)
		dst, y, dy = dst[n:], y[n:], dy[n:]
	}
	reluGradGo(dst, y, dy)
}

// ScaleShiftRows sets dst[r,j] = src[r,j]·scale[j] + shift[j] for the rows of the row-major
// matrices dst and src, whose row length is len(scale).
func ScaleShiftRows[T Float](dst, src, scale, shift []T) {
	affineRows("ScaleShiftRows", dst, src, scale, shift, scaleShiftAVX2, scaleShiftGo[T])
}

// ScaleShiftReluRows sets dst[r,j] = max(src[r,j]·scale[j] + shift[j], 0), rounded as
// ScaleShiftRows and then Relu: a BatchNorm's affine map and the rectifier after it, in one pass.
func ScaleShiftReluRows[T Float](dst, src, scale, shift []T) {
	affineRows("ScaleShiftReluRows", dst, src, scale, shift, scaleShiftReluAVX2, scaleShiftReluGo[T])
}

// affineRows checks the shapes of a row-wise affine kernel's operands and runs its assembly
// (float32, whole registers per row) or its Go reference.
func affineRows[T Float](name string, dst, src, scale, shift []T,
	asm func(dst, src, scale, shift *float32, rows, c int), ref func(dst, src, scale, shift []T)) {
	c := len(scale)
	same(name, len(dst), len(src))
	same(name+" coefficients", c, len(shift))
	rows := rowsOf(name, len(src), c)
	if _, ok := f32(src); ok && c%8 == 0 && rows > 0 {
		asm(p32(dst), p32(src), p32(scale), p32(shift), rows, c)
		return
	}
	ref(dst, src, scale, shift)
}

// LinearRows sets dst[r,j] = (a[j]·u[r,j] + b[j]·v[r,j]) + d[j] for the rows of the row-major
// matrices dst, u and v, whose row length is len(a).
func LinearRows[T Float](dst, u, v, a, b, d []T) {
	c := len(a)
	same("LinearRows", len(dst), len(u), len(v))
	same("LinearRows coefficients", c, len(b), len(d))
	rows := rowsOf("LinearRows", len(u), c)
	if u32, ok := f32(u); ok && c%8 == 0 && rows > 0 {
		linearAVX2(p32(dst), &u32[0], p32(v),
			p32(a), p32(b), p32(d), rows, c)
		return
	}
	linearGo(dst, u, v, a, b, d)
}

// LinearRowsGated is LinearRows with u gated by the rectifier after v's affine map: u[r,j]
// where v[r,j]·scale[j] + shift[j] (rounded as ScaleShiftRows) is positive or NaN, else +0.
// That is LinearRows of ReluGrad(ScaleShiftReluRows(v), u), bit for bit, without the two
// intermediate matrices.
func LinearRowsGated[T Float](dst, u, v, a, b, d, scale, shift []T) {
	c := len(a)
	same("LinearRowsGated", len(dst), len(u), len(v))
	same("LinearRowsGated coefficients", c, len(b), len(d), len(scale), len(shift))
	rows := rowsOf("LinearRowsGated", len(u), c)
	if u32, ok := f32(u); ok && c%8 == 0 && rows > 0 {
		linearGatedAVX2(p32(dst), &u32[0], p32(v),
			p32(a), p32(b), p32(d),
			p32(scale), p32(shift), rows, c)
		return
	}
	linearGatedGo(dst, u, v, a, b, d, scale, shift)
}

// ColumnMoments adds, for each column j of the row-major matrix x (row length len(shift)),
// Σ_r (x[r,j] − shift[j]) to sum[j] and Σ_r (x[r,j] − shift[j])² to sumSq[j], in float64 and
// row order.
func ColumnMoments[T Float](x []T, shift, sum, sumSq []float64) {
	c := len(shift)
	same("ColumnMoments", c, len(sum), len(sumSq))
	rows := rowsOf("ColumnMoments", len(x), c)
	j := 0
	if x32, ok := f32(x); ok && rows > 0 {
		for ; j+16 <= c; j += 16 {
			momentsAVX2(&x32[j], rows, c, &shift[j], &sum[j], &sumSq[j])
		}
	}
	if j < c {
		momentsGo(x, c, j, shift, sum, sumSq)
	}
}

// ColumnCross adds, for each column j of the row-major matrices x and dy (row length
// len(mean)), Σ_r dy[r,j] to sumDy[j] and Σ_r dy[r,j]·(x[r,j] − mean[j]) to sumDyX[j], in
// float64 and row order.
func ColumnCross[T Float](x, dy []T, mean, sumDy, sumDyX []float64) {
	c := len(mean)
	same("ColumnCross", len(x), len(dy))
	same("ColumnCross sums", c, len(sumDy), len(sumDyX))
	rows := rowsOf("ColumnCross", len(x), c)
	j := 0
	if x32, ok := f32(x); ok && rows > 0 {
		dy32 := any(dy).([]float32)
		for ; j+16 <= c; j += 16 {
			crossAVX2(&x32[j], &dy32[j], rows, c, &mean[j], &sumDy[j], &sumDyX[j])
		}
	}
	if j < c {
		crossGo(x, dy, c, j, mean, sumDy, sumDyX)
	}
}

// ColumnCrossGated is ColumnCross with dy gated as in LinearRowsGated, by x·scale + shift.
func ColumnCrossGated[T Float](x, dy []T, mean, sumDy, sumDyX []float64, scale, shift []T) {
	c := len(mean)
	same("ColumnCrossGated", len(x), len(dy))
	same("ColumnCrossGated sums", c, len(sumDy), len(sumDyX), len(scale), len(shift))
	rows := rowsOf("ColumnCrossGated", len(x), c)
	j := 0
	if x32, ok := f32(x); ok && rows > 0 {
		dy32, s32, t32 := any(dy).([]float32), any(scale).([]float32), any(shift).([]float32)
		for ; j+16 <= c; j += 16 {
			crossGatedAVX2(&x32[j], &dy32[j], rows, c, &mean[j], &sumDy[j], &sumDyX[j], &s32[j], &t32[j])
		}
	}
	if j < c {
		crossGatedGo(x, dy, c, j, mean, sumDy, sumDyX, scale, shift)
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

func addGo[T Float](dst, a, b []T) {
	dst, b = dst[:len(a)], b[:len(a)]
	for i, v := range a {
		dst[i] = v + b[i]
	}
}

func addReluGo[T Float](dst, a, b []T) {
	dst, b = dst[:len(a)], b[:len(a)]
	for i, v := range a {
		dst[i] = relu(v + b[i])
	}
}

func reluGo[T Float](dst, src []T) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = relu(v)
	}
}

// relu is max(v, 0), passing a NaN through with its sign and payload as the assembly's MAXPS
// does (Go's max returns a NaN of its own; the sum of +Inf and −Inf is a negative NaN).
func relu[T Float](v T) T {
	if v != v {
		return v
	}
	return max(v, 0)
}

// reluGradGo masks dy's bits with all ones where y's bits are not zero; a branch would be
// mispredicted on random signs.
func reluGradGo[T Float](dst, y, dy []T) {
	switch y := any(y).(type) {
	case []float32:
		dst, dy := any(dst).([]float32)[:len(y)], any(dy).([]float32)[:len(y)]
		for i, v := range y {
			b := math.Float32bits(v)
			dst[i] = math.Float32frombits(math.Float32bits(dy[i]) & uint32(int32(b|-b)>>31))
		}
	case []float64:
		dst, dy := any(dst).([]float64)[:len(y)], any(dy).([]float64)[:len(y)]
		for i, v := range y {
			b := math.Float64bits(v)
			dst[i] = math.Float64frombits(math.Float64bits(dy[i]) & uint64(int64(b|-b)>>63))
		}
	}
}

func scaleShiftGo[T Float](dst, src, scale, shift []T) {
	c := len(scale)
	for r := 0; r < len(src)/c; r++ {
		s, d := src[r*c:(r+1)*c], dst[r*c:(r+1)*c]
		for j, v := range s {
			d[j] = T(v*scale[j]) + shift[j]
		}
	}
}

func linearGo[T Float](dst, u, v, a, b, d []T) {
	c := len(a)
	for r := 0; r < len(u)/c; r++ {
		ur, vr, o := u[r*c:(r+1)*c], v[r*c:(r+1)*c], dst[r*c:(r+1)*c]
		for j, x := range ur {
			o[j] = T(a[j]*x) + T(b[j]*vr[j]) + d[j]
		}
	}
}

// gate is dy where z = x·s + t is positive or NaN, else +0: where Relu(z)'s bits are not
// zero, as ReluGrad tests.
func gate[T Float](dy, x, s, t T) T {
	if z := T(x*s) + t; z > 0 || z != z {
		return dy
	}
	return 0
}

func scaleShiftReluGo[T Float](dst, src, scale, shift []T) {
	c := len(scale)
	for r := 0; r < len(src)/c; r++ {
		s, d := src[r*c:(r+1)*c], dst[r*c:(r+1)*c]
		for j, v := range s {
			d[j] = relu(T(v*scale[j]) + shift[j])
		}
	}
}

func linearGatedGo[T Float](dst, u, v, a, b, d, scale, shift []T) {
	c := len(a)
	for r := 0; r < len(u)/c; r++ {
		ur, vr, o := u[r*c:(r+1)*c], v[r*c:(r+1)*c], dst[r*c:(r+1)*c]
		for j, x := range ur {
			o[j] = T(a[j]*gate(x, vr[j], scale[j], shift[j])) + T(b[j]*vr[j]) + d[j]
		}
	}
}

// crossGatedGo handles columns j0 and up.
func crossGatedGo[T Float](x, dy []T, c, j0 int, mean, sumDy, sumDyX []float64, scale, shift []T) {
	for r := 0; r < len(x)/c; r++ {
		xr, dr := x[r*c:(r+1)*c], dy[r*c:(r+1)*c]
		for j := j0; j < c; j++ {
			d := float64(gate(dr[j], xr[j], scale[j], shift[j]))
			sumDy[j] += d
			sumDyX[j] += float64(d * (float64(xr[j]) - mean[j]))
		}
	}
}

// momentsGo handles columns j0 and up.
func momentsGo[T Float](x []T, c, j0 int, shift, sum, sumSq []float64) {
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
func crossGo[T Float](x, dy []T, c, j0 int, mean, sumDy, sumDyX []float64) {
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
func CopyBlocks[T Float](dst, src []T, n, count, dstStride, srcStride int) {
	if count <= 0 || n <= 0 {
		return
	}
	if n > dstStride && count > 1 || dstStride < 0 || srcStride < 0 ||
		(count-1)*dstStride+n > len(dst) || (count-1)*srcStride+n > len(src) {
		panic(fmt.Sprintf("vec: CopyBlocks: %d blocks of %d with strides %d and %d do not fit %d and %d values",
			count, n, dstStride, srcStride, len(dst), len(src)))
	}
	if s, ok := f32(src); ok && n%8 == 0 {
		copyBlocksAVX2(p32(dst), &s[0], n, count, dstStride, srcStride)
		return
	}
	copyBlocksGo(dst, src, n, count, dstStride, srcStride)
}

func copyBlocksGo[T Float](dst, src []T, n, count, dstStride, srcStride int) {
	for i := range count {
		copy(dst[i*dstStride:i*dstStride+n], src[i*srcStride:i*srcStride+n])
	}
}
