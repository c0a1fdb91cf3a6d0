package graph

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lwca/lwca/backend"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds what the convolution, pooling and shortcut ops share: typed access to tensor
// data without reflection, op-owned output buffers, a scratch pool, a parallel loop over row
// blocks and the BLAS product.
//
// Gorgonia's tape machine gives every non-aliasing op a register of its own and clears the
// registers after each run, so an op that allocated its output in Do would allocate every
// tensor of every step afresh. The ops here keep their output tensor and rewrite it on the
// next run instead. That is safe because a node's value is only read within the run that
// produced it; whatever an op needs from its forward pass in its backward pass is either a
// graph input of the gradient op (kept alive by Gorgonia's liveness analysis) or private to the
// op.

// values returns the contiguous float data of v and its dtype.
func values(v G.Value, what string) (*tensor.Dense, error) {
	t, err := dense(v, what)
	if err != nil {
		return nil, err
	}
	if t.IsView() {
		t = t.Materialize().(*tensor.Dense)
	}
	if dt := t.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("%s: unsupported dtype %v (float32 or float64 expected)", what, dt)
	}
	return t, nil
}

// slice32 and slice64 view a contiguous tensor's data without the reflection of Dense.Data.
func slice32(t *tensor.Dense) []float32 { return t.Float32s()[:t.Size()] }
func slice64(t *tensor.Dense) []float64 { return t.Float64s()[:t.Size()] }

// reuse returns the tensor held in *slot when it has dtype dt and the size of shape (reshaped
// to shape if a downstream reshape changed it), and otherwise a new zero tensor stored in *slot.
func reuse(slot **tensor.Dense, dt tensor.Dtype, shape ...int) *tensor.Dense {
	if t := *slot; t != nil && t.Dtype() == dt && t.Size() == product(shape) && !t.IsView() {
		if !t.Shape().Eq(tensor.Shape(shape)) {
			if err := t.Reshape(shape...); err == nil {
				return t
			}
		} else {
			return t
		}
	}
	t := tensor.New(tensor.Of(dt), tensor.WithShape(shape...), tensor.WithEngine(Engine))
	*slot = t
	return t
}

// scratch is a small free list of work buffers that live only inside one Do call (patch
// matrices, their gradients), so that every layer of a network shares the same few.
type scratch[T float] struct {
	mu   sync.Mutex
	free [][]T
}

var (
	scratch32 scratch[float32]
	scratch64 scratch[float64]
)

// get returns a buffer of length n; its contents are undefined.
func (s *scratch[T]) get(n int) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := -1
	for i, b := range s.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(s.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]T, n)
	}
	b := s.free[best]
	s.free = append(s.free[:best], s.free[best+1:]...)
	return b[:n]
}

// put returns b to the list, which keeps the four largest buffers.
func (s *scratch[T]) put(b []T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.free = append(s.free, b)
	if len(s.free) > 4 {
		small := 0
		for i, f := range s.free {
			if cap(f) < cap(s.free[small]) {
				small = i
			}
		}
		s.free = append(s.free[:small], s.free[small+1:]...)
	}
}

func getScratch[T float](n int) []T {
	var z T
	switch any(z).(type) {
	case float32:
		return any(scratch32.get(n)).([]T)
	default:
		return any(scratch64.get(n)).([]T)
	}
}

func putScratch[T float](b []T) {
	switch b := any(b).(type) {
	case []float32:
		scratch32.put(b)
	case []float64:
		scratch64.put(b)
	}
}

// parallel calls f on contiguous blocks [lo, hi) that cover [0, n), spread over the
// processors when there are at least grain items per processor; otherwise it calls f(0, n).
// f must write only its own block's outputs.
func parallel(n, grain int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n/max(grain, 1))
	if workers <= 1 {
		f(0, n)
		return
	}
	spread(n, max(grain, (n+4*workers-1)/(4*workers)), workers, f)
}

// spread calls f on the ranges [lo, hi) of [0, n) that start at multiples of size, from
// workers goroutines (the caller's among them) that each take the next range when done with
// their last, about four per worker: on a machine shared with other work, a core that falls
// behind takes fewer ranges instead of holding up the rest.
func spread(n, size, workers int, f func(lo, hi int)) {
	var next atomic.Int64
	run := func() {
		for {
			lo := int(next.Add(int64(size))) - size
			if lo >= n {
				return
			}
			f(lo, min(lo+size, n))
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run()
		}()
	}
	run()
	wg.Wait()
}

// gemm is backend.Gemm: the BLAS implementation installed in gonum (OpenBLAS when the
// backend package selected it).
func gemm[T float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	backend.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
