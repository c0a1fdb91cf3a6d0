package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// special are values whose handling differs between naive kernels: signed zeros, infinities,
// NaNs of both signs, subnormals and the extremes.
var special = []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
	float32(math.NaN()), -float32(math.NaN()), 1e-45, -1e-45, math.MaxFloat32, -math.MaxFloat32, 1, -1}

// values returns n random float32s, about one in eight of them special.
func values(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		if r.IntN(8) == 0 {
			v[i] = special[r.IntN(len(special))]
		} else {
			v[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(7)-3)))
		}
	}
	return v
}

// coefficients are random values without the specials.
func coefficients(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func sameBits32(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s[%d] = %v (%#x), the Go reference gives %v (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

func sameBits64(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s[%d] = %v, the Go reference gives %v", what, i, got[i], want[i])
		}
	}
}

// lengths cover empty, shorter than a register, tails and several registers.
var lengths = []int{0, 1, 7, 8, 9, 16, 31, 64, 1000, 4099}

// The assembly kernels equal their Go references bit for bit, tails included.
func TestElementwiseKernelsMatchReference(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2: only the Go references run")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range lengths {
		src, dy := values(r, n), values(r, n)
		got, want := make([]float32, n), make([]float32, n)
		Add(got, src, dy)
		addGo(want, src, dy)
		sameBits32(t, "Add", got, want)
		AddRelu(got, src, dy)
		addReluGo(want, src, dy)
		sameBits32(t, "AddRelu", got, want)
		Relu(got, src)
		reluGo(want, src)
		sameBits32(t, "Relu", got, want)
		// ReluGrad sees rectifier outputs, and also arbitrary bits.
		for _, y := range [][]float32{want, src} {
			ReluGrad(got, y, dy)
			reluGradGo(want, y, dy)
			sameBits32(t, "ReluGrad", got, want)
		}
	}
}

func TestRowKernelsMatchReference(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2: only the Go references run")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []int{1, 3, 8, 16, 24, 32, 40, 64, 256} {
		for _, rows := range []int{1, 2, 5, 129} {
			n := rows * c
			u, v := values(r, n), values(r, n)
			a, b, d := coefficients(r, c), coefficients(r, c), coefficients(r, c)
			got, want := make([]float32, n), make([]float32, n)
			ScaleShiftRows(got, u, a, b)
			scaleShiftGo(want, u, a, b)
			sameBits32(t, "ScaleShiftRows", got, want)
			LinearRows(got, u, v, a, b, d)
			linearGo(want, u, v, a, b, d)
			sameBits32(t, "LinearRows", got, want)
			ScaleShiftReluRows(got, u, a, b)
			scaleShiftReluGo(want, u, a, b)
			sameBits32(t, "ScaleShiftReluRows", got, want)
			gs, gt := coefficients(r, c), gateShifts(r, c)
			LinearRowsGated(got, u, v, a, b, d, gs, gt)
			linearGatedGo(want, u, v, a, b, d, gs, gt)
			sameBits32(t, "LinearRowsGated", got, want)

			// The column sums start from non-zero values and see finite data.
			x, dy := coefficients(r, n), coefficients(r, n)
			for i := range x {
				x[i] = x[i]*3 + 100
			}
			shift := make([]float64, c)
			for j := range shift {
				shift[j] = float64(x[j])
			}
			s1, q1 := f64(coefficients(r, c)), f64(coefficients(r, c))
			s2, q2 := append([]float64(nil), s1...), append([]float64(nil), q1...)
			ColumnMoments(x, shift, s1, q1)
			momentsGo(x, c, 0, shift, s2, q2)
			sameBits64(t, "ColumnMoments sum", s1, s2)
			sameBits64(t, "ColumnMoments sumSq", q1, q2)
			ColumnCross(x, dy, shift, s1, q1)
			crossGo(x, dy, c, 0, shift, s2, q2)
			sameBits64(t, "ColumnCross sumDy", s1, s2)
			sameBits64(t, "ColumnCross sumDyX", q1, q2)
			xg := gateInputs(r, n)
			ColumnCrossGated(xg, dy, shift, s1, q1, gs, gt)
			crossGatedGo(xg, dy, c, 0, shift, s2, q2, gs, gt)
			sameBits64(t, "ColumnCrossGated sumDy", s1, s2)
			sameBits64(t, "ColumnCrossGated sumDyX", q1, q2)
		}
	}
}

// gateShifts are shifts of which about one in four is ±0, so that gates see z exactly 0.
func gateShifts(r *rand.Rand, n int) []float32 {
	v := coefficients(r, n)
	for i := range v {
		switch r.IntN(8) {
		case 0:
			v[i] = 0
		case 1:
			v[i] = float32(math.Copysign(0, -1))
		}
	}
	return v
}

// gateInputs are finite inputs near zero, about one in four of them ±0.
func gateInputs(r *rand.Rand, n int) []float32 { return gateShifts(r, n) }

// The fused kernels compute exactly the unfused sequence they replace: the sum or the affine
// map then the rectifier, and the rectifier's gradient then BatchNorm's backward sums and combination,
// bit for bit, in float32 (assembly where the CPU has it) and float64 (Go).
func TestGatedKernelsEqualUnfused(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range []int{3, 8, 16, 40} {
		rows := 67
		n := rows * c
		u, v := values(r, n), values(r, n)
		xs, dys := gateInputs(r, n), coefficients(r, n)
		a, b, d := coefficients(r, c), coefficients(r, c), coefficients(r, c)
		s, sh := coefficients(r, c), gateShifts(r, c)
		mean := f64(coefficients(r, c))
		testGatedEqualUnfused(t, c, u, v, xs, dys, a, b, d, s, sh, mean)
		testGatedEqualUnfused(t, c, f64(u), f64(v), f64(xs), f64(dys), f64(a), f64(b), f64(d), f64(s), f64(sh), mean)
	}
}

func testGatedEqualUnfused[T Float](t *testing.T, c int, u, v, xs, dys, a, b, d, s, sh []T, mean []float64) {
	t.Helper()
	n := len(u)
	bits := func(what string, got, want []T) {
		t.Helper()
		switch got := any(got).(type) {
		case []float32:
			sameBits32(t, what, got, any(want).([]float32))
		case []float64:
			sameBits64(t, what, got, any(want).([]float64))
		}
	}
	z, y, g := make([]T, n), make([]T, n), make([]T, n)
	fused := make([]T, n)
	Add(z, u, v)
	Relu(y, z)
	AddRelu(fused, u, v)
	bits("AddRelu", fused, y)
	ScaleShiftRows(z, v, s, sh)
	Relu(y, z)
	ScaleShiftReluRows(fused, v, s, sh)
	bits("ScaleShiftReluRows", fused, y)
	ReluGrad(g, y, u)
	want := make([]T, n)
	LinearRows(want, g, v, a, b, d)
	LinearRowsGated(fused, u, v, a, b, d, s, sh)
	bits("LinearRowsGated", fused, want)
	// The sums on finite values.
	ScaleShiftRows(z, xs, s, sh)
	Relu(y, z)
	ReluGrad(g, y, dys)
	s1, q1, s2, q2 := make([]float64, c), make([]float64, c), make([]float64, c), make([]float64, c)
	ColumnCross(xs, g, mean, s1, q1)
	ColumnCrossGated(xs, dys, mean, s2, q2, s, sh)
	sameBits64(t, "ColumnCrossGated sumDy", s2, s1)
	sameBits64(t, "ColumnCrossGated sumDyX", q2, q1)
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// The references compute what their comments say, checked against float64 arithmetic on a
// small case and against the definitions of max and the rectifier's gradient.
func TestReferencesAgainstDefinitions(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	nan := float32(math.NaN())
	src := []float32{-2, negZero, 0, 3, nan, float32(math.Inf(-1))}
	dst := make([]float32, len(src))
	Relu(dst, src)
	want := []float32{0, 0, 0, 3, nan, 0}
	for i := range want {
		if math.IsNaN(float64(want[i])) != math.IsNaN(float64(dst[i])) || (!math.IsNaN(float64(want[i])) && dst[i] != want[i]) || math.Signbit(float64(dst[i])) {
			t.Fatalf("Relu(%v) = %v, want %v", src[i], dst[i], want[i])
		}
	}
	dy := []float32{1, 2, 3, 4, 5, 6}
	sum32 := []float32{1, 2.5, -3, 7, 1e30, 0.1}
	Add(sum32, sum32, []float32{0.5, -2.5, 1e-8, negZero, -1e30, 0.2})
	for i, w := range []float32{1.5, 0, -3, 7, 0, float32(float32(0.1) + float32(0.2))} {
		if sum32[i] != w {
			t.Fatalf("Add at %d = %v, want %v", i, sum32[i], w)
		}
	}
	ReluGrad(dst, dst, dy)
	for i, w := range []float32{0, 0, 0, 4, 5, 0} {
		if dst[i] != w {
			t.Fatalf("ReluGrad at %d = %v, want %v", i, dst[i], w)
		}
	}
	const c = 3
	x := []float32{1, 2, 3, 4, 5, 6}
	shift := []float64{1, 2, 0.5}
	sum, sq := make([]float64, c), make([]float64, c)
	ColumnMoments(x, shift, sum, sq)
	dyy := []float32{2, -1, 0.5, 1, 1, -2}
	sd, sdx := make([]float64, c), make([]float64, c)
	ColumnCross(x, dyy, shift, sd, sdx)
	for j := 0; j < c; j++ {
		d0, d1 := float64(x[j])-shift[j], float64(x[c+j])-shift[j]
		if sum[j] != d0+d1 || sq[j] != d0*d0+d1*d1 {
			t.Fatalf("column %d: moments %v, %v", j, sum[j], sq[j])
		}
		if sd[j] != float64(dyy[j]+dyy[c+j]) || sdx[j] != float64(dyy[j])*d0+float64(dyy[c+j])*d1 {
			t.Fatalf("column %d: cross sums %v, %v", j, sd[j], sdx[j])
		}
	}
}

func TestLengthMismatchPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"Relu":           func() { Relu(make([]float32, 3), make([]float32, 4)) },
		"Add":            func() { Add(make([]float32, 9), make([]float32, 9), make([]float32, 8)) },
		"ScaleShiftRows": func() { ScaleShiftRows(make([]float32, 6), make([]float32, 6), make([]float32, 4), make([]float32, 4)) },
		"ColumnMoments":  func() { ColumnMoments(make([]float32, 6), make([]float64, 3), make([]float64, 2), make([]float64, 3)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic on mismatched lengths", name)
				}
			}()
			f()
		}()
	}
}

// CopyBlocks equals its Go reference, leaves the gaps between blocks alone and reads
// overlapping source blocks (as the windows of neighbouring pixels overlap).
func TestCopyBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct{ n, count, dstStride, srcStride int }{
		{8, 1, 8, 8}, {48, 30, 144, 16}, {96, 14, 288, 32}, {192, 6, 576, 64}, {9, 5, 27, 3}, {16, 3, 20, 0},
	} {
		src := values(r, (tc.count-1)*tc.srcStride+tc.n)
		got := values(r, (tc.count-1)*tc.dstStride+tc.n)
		want := append([]float32(nil), got...)
		CopyBlocks(got, src, tc.n, tc.count, tc.dstStride, tc.srcStride)
		copyBlocksGo(want, src, tc.n, tc.count, tc.dstStride, tc.srcStride)
		sameBits32(t, "CopyBlocks", got, want)
		// The reference itself: block i holds src[i·srcStride:][:n].
		for i := range tc.count {
			for e := range tc.n {
				if math.Float32bits(want[i*tc.dstStride+e]) != math.Float32bits(src[i*tc.srcStride+e]) {
					t.Fatalf("%+v: block %d value %d not copied", tc, i, e)
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("CopyBlocks past the end of dst did not panic")
		}
	}()
	CopyBlocks(make([]float32, 20), make([]float32, 40), 8, 3, 8, 8)
}
