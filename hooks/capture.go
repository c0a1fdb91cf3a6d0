package hooks

import (
	"runtime"
	"sync"
)

// Float is the element types a graph computes in, and a capture holds.
type Float interface{ ~float32 | ~float64 }

// The functions below are the only way captures are written, by tap nodes and by fused ops
// alike, so that every weighted layer gets the same semantics: nothing is recorded unless the
// point is Capturing (set enabled, point selected; a nil point is an evaluation graph's), X is
// recorded as it is, and G is scaled by GradScale to give per-sample gradients.

// CaptureInput records data, a row-major rows×cols matrix of the layer's inputs (one row per
// sample, or per sample and position), as p.X when p is capturing. It reports whether it did.
func CaptureInput[T Float](p *Point, data []T, rows, cols int) bool {
	if !p.Capturing() {
		return false
	}
	scaleInto(storage[T](&p.X, rows, cols), data[:rows*cols], 1)
	return true
}

// CaptureOutputGrad records data, the rows×cols autodiff gradient ∂L/∂H of the layer's output
// for a mean-reduced loss, times p.GradScale as p.G when p is capturing: the per-sample
// gradients of method.md. It reports whether it did.
func CaptureOutputGrad[T Float](p *Point, data []T, rows, cols int) bool {
	if !p.Capturing() {
		return false
	}
	scaleInto(storage[T](&p.G, rows, cols), data[:rows*cols], p.GradScale)
	return true
}

// InputBuffer returns p.X resized to rows×cols, for an op that builds its input matrix in
// place (a convolution's patch matrix) instead of copying it in with CaptureInput; nil when p
// is not capturing. The caller must fill every value.
func InputBuffer[T Float](p *Point, rows, cols int) []T {
	if !p.Capturing() {
		return nil
	}
	return storage[T](&p.X, rows, cols)
}

// storage resizes m to rows×cols of T, reusing its memory, and returns its data.
func storage[T Float](m *Matrix, rows, cols int) []T {
	m.Rows, m.Cols = rows, cols
	n := rows * cols
	var z T
	if _, ok := any(z).(float32); ok {
		if cap(m.F32) < n {
			m.F32 = make([]float32, n)
		}
		m.F32 = m.F32[:n]
		m.F64 = nil
		return any(m.F32).([]T)
	}
	if cap(m.F64) < n {
		m.F64 = make([]float64, n)
	}
	m.F64 = m.F64[:n]
	m.F32 = nil
	return any(m.F64).([]T)
}

// scaleInto sets dst = scale·src, split between the processors for large captures (a
// convolution's patch matrix is megabytes). Element-wise, so the bits do not depend on the split.
func scaleInto[T Float](dst, src []T, scale float64) {
	const grain = 1 << 16
	workers := min(runtime.GOMAXPROCS(0), len(src)/grain)
	if workers <= 1 {
		scaleRange(dst, src, T(scale))
		return
	}
	var wg sync.WaitGroup
	size := (len(src) + workers - 1) / workers
	for lo := 0; lo < len(src); lo += size {
		hi := min(lo+size, len(src))
		wg.Add(1)
		go func() {
			defer wg.Done()
			scaleRange(dst[lo:hi], src[lo:hi], T(scale))
		}()
	}
	wg.Wait()
}

func scaleRange[T Float](dst, src []T, s T) {
	if s == 1 {
		copy(dst, src)
		return
	}
	for i, v := range src {
		dst[i] = v * s
	}
}
