#include "textflag.h"

// LOAD16D and STORE16D move 16 float64 values at p to or from four YMM registers: the
// per-column state of the column-sum kernels.
#define LOAD16D(p, a, b, c, d) \
	VMOVUPD 0(p), a; VMOVUPD 32(p), b; VMOVUPD 64(p), c; VMOVUPD 96(p), d
#define STORE16D(p, a, b, c, d) \
	VMOVUPD a, 0(p); VMOVUPD b, 32(p); VMOVUPD c, 64(p); VMOVUPD d, 96(p)

// Each kernel mirrors its Go reference in vec.go operation by operation. Counts are in
// values: n a positive multiple of 8, c a positive multiple of 8, rows > 0.

// func addAVX2(dst, a, b *float32, n int)
TEXT ·addAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
add:
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     add
	VZEROUPPER
	RET

// func addReluAVX2(dst, a, b *float32, n int)
// max(a + b, 0) + 0, as addAVX2 then reluAVX2.
TEXT ·addReluAVX2(SB), NOSPLIT, $0-32
	MOVQ   dst+0(FP), DI
	MOVQ   a+8(FP), SI
	MOVQ   b+16(FP), DX
	MOVQ   n+24(FP), CX
	VXORPS Y1, Y1, Y1
addRelu:
	VMOVUPS (SI), Y0
	VADDPS  (DX), Y0, Y0
	VMAXPS  Y0, Y1, Y0
	VADDPS  Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     addRelu
	VZEROUPPER
	RET

// func reluAVX2(dst, src *float32, n int)
// max(x, 0) as (0 > x ? 0 : x) + 0: NaN stays NaN, −0 becomes +0.
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
relu:
	VMOVUPS (SI), Y1
	VMAXPS  Y1, Y0, Y2
	VADDPS  Y0, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     relu
	VZEROUPPER
	RET

// func reluGradAVX2(dst, y, dy *float32, n int)
// dy where y's bits are not all zero, else +0.
TEXT ·reluGradAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ y+8(FP), SI
	MOVQ dy+16(FP), DX
	MOVQ n+24(FP), CX
	VPXOR Y0, Y0, Y0
reluGrad:
	VMOVDQU  (SI), Y1
	VPCMPEQD Y0, Y1, Y1
	VPANDN   (DX), Y1, Y2
	VMOVDQU  Y2, (DI)
	ADDQ     $32, SI
	ADDQ     $32, DX
	ADDQ     $32, DI
	SUBQ     $8, CX
	JNZ      reluGrad
	VZEROUPPER
	RET

// func scaleShiftAVX2(dst, src, scale, shift *float32, rows, c int)
// dst[r,j] = src[r,j]·scale[j] + shift[j], each operation rounded.
TEXT ·scaleShiftAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ scale+16(FP), R8
	MOVQ shift+24(FP), R9
	MOVQ rows+32(FP), CX
	MOVQ c+40(FP), R10
	SHLQ $2, R10
scaleRow:
	XORQ AX, AX
scaleCol:
	VMOVUPS (SI)(AX*1), Y1
	VMULPS  (R8)(AX*1), Y1, Y1
	VADDPS  (R9)(AX*1), Y1, Y1
	VMOVUPS Y1, (DI)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, R10
	JLT     scaleCol
	ADDQ    R10, SI
	ADDQ    R10, DI
	DECQ    CX
	JNZ     scaleRow
	VZEROUPPER
	RET

// func linearAVX2(dst, u, v, a, b, d *float32, rows, c int)
// dst[r,j] = (a[j]·u[r,j] + b[j]·v[r,j]) + d[j], each operation rounded.
TEXT ·linearAVX2(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ u+8(FP), SI
	MOVQ v+16(FP), DX
	MOVQ a+24(FP), R8
	MOVQ b+32(FP), R9
	MOVQ d+40(FP), R11
	MOVQ rows+48(FP), CX
	MOVQ c+56(FP), R10
	SHLQ $2, R10
linearRow:
	XORQ AX, AX
linearCol:
	VMOVUPS (SI)(AX*1), Y1
	VMULPS  (R8)(AX*1), Y1, Y1
	VMOVUPS (DX)(AX*1), Y2
	VMULPS  (R9)(AX*1), Y2, Y2
	VADDPS  Y2, Y1, Y1
	VADDPS  (R11)(AX*1), Y1, Y1
	VMOVUPS Y1, (DI)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, R10
	JLT     linearCol
	ADDQ    R10, SI
	ADDQ    R10, DX
	ADDQ    R10, DI
	DECQ    CX
	JNZ     linearRow
	VZEROUPPER
	RET

// func momentsAVX2(x *float32, rows, stride int, shift, sum, sumSq *float64)
// For 16 columns starting at x, rows apart by stride values: sum += x − shift and
// sumSq += (x − shift)², in float64, the sums held in Y4–Y11 over all rows.
TEXT ·momentsAVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ rows+8(FP), CX
	MOVQ stride+16(FP), R8
	SHLQ $2, R8
	MOVQ shift+24(FP), R9
	MOVQ sum+32(FP), R10
	MOVQ sumSq+40(FP), R11
	LOAD16D(R9, Y0, Y1, Y2, Y3)
	LOAD16D(R10, Y4, Y5, Y6, Y7)
	LOAD16D(R11, Y8, Y9, Y10, Y11)
moments:
	VCVTPS2PD 0(SI), Y12
	VSUBPD    Y0, Y12, Y12
	VADDPD    Y12, Y4, Y4
	VMULPD    Y12, Y12, Y13
	VADDPD    Y13, Y8, Y8
	VCVTPS2PD 16(SI), Y12
	VSUBPD    Y1, Y12, Y12
	VADDPD    Y12, Y5, Y5
	VMULPD    Y12, Y12, Y13
	VADDPD    Y13, Y9, Y9
	VCVTPS2PD 32(SI), Y12
	VSUBPD    Y2, Y12, Y12
	VADDPD    Y12, Y6, Y6
	VMULPD    Y12, Y12, Y13
	VADDPD    Y13, Y10, Y10
	VCVTPS2PD 48(SI), Y12
	VSUBPD    Y3, Y12, Y12
	VADDPD    Y12, Y7, Y7
	VMULPD    Y12, Y12, Y13
	VADDPD    Y13, Y11, Y11
	ADDQ      R8, SI
	DECQ      CX
	JNZ       moments
	STORE16D(R10, Y4, Y5, Y6, Y7)
	STORE16D(R11, Y8, Y9, Y10, Y11)
	VZEROUPPER
	RET

// func crossAVX2(x, dy *float32, rows, stride int, mean, sumDy, sumDyX *float64)
// For 16 columns: sumDy += dy and sumDyX += dy·(x − mean), in float64.
TEXT ·crossAVX2(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), SI
	MOVQ dy+8(FP), DX
	MOVQ rows+16(FP), CX
	MOVQ stride+24(FP), R8
	SHLQ $2, R8
	MOVQ mean+32(FP), R9
	MOVQ sumDy+40(FP), R10
	MOVQ sumDyX+48(FP), R11
	LOAD16D(R9, Y0, Y1, Y2, Y3)
	LOAD16D(R10, Y4, Y5, Y6, Y7)
	LOAD16D(R11, Y8, Y9, Y10, Y11)
cross:
	VCVTPS2PD 0(DX), Y12
	VADDPD    Y12, Y4, Y4
	VCVTPS2PD 0(SI), Y13
	VSUBPD    Y0, Y13, Y13
	VMULPD    Y13, Y12, Y13
	VADDPD    Y13, Y8, Y8
	VCVTPS2PD 16(DX), Y12
	VADDPD    Y12, Y5, Y5
	VCVTPS2PD 16(SI), Y13
	VSUBPD    Y1, Y13, Y13
	VMULPD    Y13, Y12, Y13
	VADDPD    Y13, Y9, Y9
	VCVTPS2PD 32(DX), Y12
	VADDPD    Y12, Y6, Y6
	VCVTPS2PD 32(SI), Y13
	VSUBPD    Y2, Y13, Y13
	VMULPD    Y13, Y12, Y13
	VADDPD    Y13, Y10, Y10
	VCVTPS2PD 48(DX), Y12
	VADDPD    Y12, Y7, Y7
	VCVTPS2PD 48(SI), Y13
	VSUBPD    Y3, Y13, Y13
	VMULPD    Y13, Y12, Y13
	VADDPD    Y13, Y11, Y11
	ADDQ      R8, SI
	ADDQ      R8, DX
	DECQ      CX
	JNZ       cross
	STORE16D(R10, Y4, Y5, Y6, Y7)
	STORE16D(R11, Y8, Y9, Y10, Y11)
	VZEROUPPER
	RET

// func copyBlocksAVX2(dst, src *float32, n, count, dstStride, srcStride int)
// n a positive multiple of 8, count > 0.
TEXT ·copyBlocksAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), R10
	SHLQ $2, R10
	MOVQ count+24(FP), CX
	MOVQ dstStride+32(FP), R8
	SHLQ $2, R8
	MOVQ srcStride+40(FP), R9
	SHLQ $2, R9
copyBlock:
	XORQ AX, AX
copyChunk:
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, R10
	JLT     copyChunk
	ADDQ    R8, DI
	ADDQ    R9, SI
	DECQ    CX
	JNZ     copyBlock
	VZEROUPPER
	RET

// func scaleShiftReluAVX2(dst, src, scale, shift *float32, rows, c int)
// dst[r,j] = max(src[r,j]·scale[j] + shift[j], 0) + 0, each operation rounded, as
// scaleShiftAVX2 then reluAVX2.
TEXT ·scaleShiftReluAVX2(SB), NOSPLIT, $0-48
	MOVQ   dst+0(FP), DI
	MOVQ   src+8(FP), SI
	MOVQ   scale+16(FP), R8
	MOVQ   shift+24(FP), R9
	MOVQ   rows+32(FP), CX
	MOVQ   c+40(FP), R10
	SHLQ   $2, R10
	VXORPS Y0, Y0, Y0
scaleReluRow:
	XORQ AX, AX
scaleReluCol:
	VMOVUPS (SI)(AX*1), Y1
	VMULPS  (R8)(AX*1), Y1, Y1
	VADDPS  (R9)(AX*1), Y1, Y1
	VMAXPS  Y1, Y0, Y1
	VADDPS  Y0, Y1, Y1
	VMOVUPS Y1, (DI)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, R10
	JLT     scaleReluCol
	ADDQ    R10, SI
	ADDQ    R10, DI
	DECQ    CX
	JNZ     scaleReluRow
	VZEROUPPER
	RET

// GATE sets g to the rectifier's mask of z = x·scale + shift (all ones where z is not ≤ 0,
// that is positive or NaN) and-ed with m: x in x, scale and shift at s and t, zero in Y0.
#define GATE(x, s, t, m, g) \
	VMULPS  s, x, g; \
	VADDPS  t, g, g; \
	VCMPPS  $6, Y0, g, g; \
	VANDPS  m, g, g

// CROSSGATED8 adds the 8 columns at byte offset off: dz = dy gated by x·scale + shift (Y14),
// sumDy += dz and sumDyX += dz·(x − mean), each in two quarters of 4 float64 values.
#define CROSSGATED8(off, m0, m1, sd0, sd1, sx0, sx1) \
	VMOVUPS      off(SI), Y13; \
	VMULPS       off(R12), Y13, Y14; \
	VADDPS       off(R13), Y14, Y14; \
	VCMPPS       $6, Y12, Y14, Y14; \
	VANDPS       off(DX), Y14, Y14; \
	VCVTPS2PD    X14, Y15; \
	VADDPD       Y15, sd0, sd0; \
	VCVTPS2PD    off(SI), Y13; \
	VSUBPD       m0, Y13, Y13; \
	VMULPD       Y13, Y15, Y13; \
	VADDPD       Y13, sx0, sx0; \
	VEXTRACTF128 $1, Y14, X15; \
	VCVTPS2PD    X15, Y15; \
	VADDPD       Y15, sd1, sd1; \
	VCVTPS2PD    off+16(SI), Y13; \
	VSUBPD       m1, Y13, Y13; \
	VMULPD       Y13, Y15, Y13; \
	VADDPD       Y13, sx1, sx1

// func linearGatedAVX2(dst, u, v, a, b, d, scale, shift *float32, rows, c int)
// linearAVX2 with u gated by v·scale + shift.
TEXT ·linearGatedAVX2(SB), NOSPLIT, $0-80
	MOVQ   dst+0(FP), DI
	MOVQ   u+8(FP), SI
	MOVQ   v+16(FP), DX
	MOVQ   a+24(FP), R8
	MOVQ   b+32(FP), R9
	MOVQ   d+40(FP), R11
	MOVQ   scale+48(FP), R12
	MOVQ   shift+56(FP), R13
	MOVQ   rows+64(FP), CX
	MOVQ   c+72(FP), R10
	SHLQ   $2, R10
	VXORPS Y0, Y0, Y0
linearGatedRow:
	XORQ AX, AX
linearGatedCol:
	VMOVUPS (DX)(AX*1), Y2
	GATE(Y2, (R12)(AX*1), (R13)(AX*1), (SI)(AX*1), Y1)
	VMULPS  (R8)(AX*1), Y1, Y1
	VMULPS  (R9)(AX*1), Y2, Y2
	VADDPS  Y2, Y1, Y1
	VADDPS  (R11)(AX*1), Y1, Y1
	VMOVUPS Y1, (DI)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, R10
	JLT     linearGatedCol
	ADDQ    R10, SI
	ADDQ    R10, DX
	ADDQ    R10, DI
	DECQ    CX
	JNZ     linearGatedRow
	VZEROUPPER
	RET

// func crossGatedAVX2(x, dy *float32, rows, stride int, mean, sumDy, sumDyX *float64, scale, shift *float32)
// For 16 columns: crossAVX2's sums of dy gated by x·scale + shift. Mean in Y0–Y3, the sums in
// Y4–Y11, zero in Y12; scale and shift are read from memory. Each half of 8 columns gates dy
// into Y14 (x in Y13), then adds its two quarters as crossAVX2 does.
TEXT ·crossGatedAVX2(SB), NOSPLIT, $0-72
	MOVQ   x+0(FP), SI
	MOVQ   dy+8(FP), DX
	MOVQ   rows+16(FP), CX
	MOVQ   stride+24(FP), R8
	SHLQ   $2, R8
	MOVQ   mean+32(FP), R9
	MOVQ   sumDy+40(FP), R10
	MOVQ   sumDyX+48(FP), R11
	MOVQ   scale+56(FP), R12
	MOVQ   shift+64(FP), R13
	LOAD16D(R9, Y0, Y1, Y2, Y3)
	LOAD16D(R10, Y4, Y5, Y6, Y7)
	LOAD16D(R11, Y8, Y9, Y10, Y11)
	VXORPS Y12, Y12, Y12
crossGated:
	CROSSGATED8(0, Y0, Y1, Y4, Y5, Y8, Y9)
	CROSSGATED8(32, Y2, Y3, Y6, Y7, Y10, Y11)
	ADDQ R8, SI
	ADDQ R8, DX
	DECQ CX
	JNZ  crossGated
	STORE16D(R10, Y4, Y5, Y6, Y7)
	STORE16D(R11, Y8, Y9, Y10, Y11)
	VZEROUPPER
	RET
