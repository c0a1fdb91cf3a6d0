package data

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// indexSet returns a set whose sample i is the vector (i, −i) with label
// i mod classes, so a batch reveals which samples it holds.
func indexSet(n, classes int) *Set {
	s := &Set{X: make([]float32, 2*n), Y: make([]int32, n), N: n, D: 2, Classes: classes, Shape: []int{2}, Name: "index"}
	for i := range n {
		s.X[2*i], s.X[2*i+1] = float32(i), -float32(i)
		s.Y[i] = int32(i % classes)
	}
	return s
}

// epochOrder deals one epoch and returns the sample indices in order,
// checking that x and y agree with the set.
func epochOrder(t *testing.T, b *Batcher, s *Set) (epoch int, order []int) {
	t.Helper()
	x := make([]float32, b.BatchSize()*s.D)
	y := make([]int32, b.BatchSize())
	epoch = -1
	for k := range b.BatchesPerEpoch() {
		e, i := b.Next(x, y)
		if i != k || (epoch >= 0 && e != epoch) {
			t.Fatalf("batch %d of the epoch reported (epoch %d, index %d)", k, e, i)
		}
		epoch = e
		for r := range b.BatchSize() {
			idx := int(x[r*s.D])
			if x[r*s.D+1] != -x[r*s.D] || y[r] != s.Y[idx] {
				t.Fatalf("row %d of batch %d is not sample %d", r, k, idx)
			}
			order = append(order, idx)
		}
	}
	return epoch, order
}

func TestBatcherEpochs(t *testing.T) {
	const n, bs = 103, 10
	s := indexSet(n, 4)
	b := NewBatcher(s, bs, true, 42)
	if b.BatchesPerEpoch() != 10 {
		t.Fatalf("BatchesPerEpoch = %d, want 10", b.BatchesPerEpoch())
	}
	var orders [][]int
	missed := make(map[int]bool)
	for e := range 4 {
		got, order := epochOrder(t, b, s)
		if got != e {
			t.Errorf("epoch reported %d, want %d", got, e)
		}
		if want := b.Indices(e, 3); !slices.Equal(toInt32(order[30:40]), want) {
			t.Errorf("epoch %d batch 3: Indices gives %v, Next gave %v", e, want, order[30:40])
		}
		// Every sample at most once; the 3 left out differ per epoch.
		seen := make([]bool, n)
		for _, i := range order {
			if seen[i] {
				t.Fatalf("epoch %d: sample %d twice", e, i)
			}
			seen[i] = true
		}
		for i, ok := range seen {
			if !ok {
				missed[i] = true
			}
		}
		orders = append(orders, order)
	}
	if len(missed) <= 3 {
		t.Errorf("the same %d samples were dropped in every epoch", len(missed))
	}
	for e := 1; e < len(orders); e++ {
		if slices.Equal(orders[e], orders[0]) {
			t.Errorf("epochs 0 and %d have the same order", e)
		}
	}

	// Same seed, same sequence; another seed, another one.
	b2 := NewBatcher(s, bs, true, 42)
	b3 := NewBatcher(s, bs, true, 43)
	_, o2 := epochOrder(t, b2, s)
	_, o3 := epochOrder(t, b3, s)
	if !slices.Equal(o2, orders[0]) {
		t.Error("same seed gave a different order")
	}
	if slices.Equal(o3, orders[0]) {
		t.Error("seeds 42 and 43 gave the same order")
	}
}

func toInt32(a []int) []int32 {
	b := make([]int32, len(a))
	for i, v := range a {
		b[i] = int32(v)
	}
	return b
}

func TestBatcherNoShuffle(t *testing.T) {
	s := indexSet(20, 3)
	b := NewBatcher(s, 6, false, 9)
	for e := range 2 {
		_, order := epochOrder(t, b, s)
		for i, v := range order {
			if v != i {
				t.Fatalf("epoch %d: position %d holds sample %d, want %d", e, i, v, i)
			}
		}
	}
}

// TestBatcherCoverage checks that with a batch size dividing N every
// sample appears exactly once per epoch.
func TestBatcherCoverage(t *testing.T) {
	s := indexSet(64, 5)
	b := NewBatcher(s, 8, true, 7)
	for e := range 3 {
		_, order := epochOrder(t, b, s)
		sorted := slices.Sorted(slices.Values(order))
		for i, v := range sorted {
			if v != i {
				t.Fatalf("epoch %d: samples %v, want each of 0..63 once", e, sorted)
			}
		}
	}
}

func TestBatcherRestore(t *testing.T) {
	s := indexSet(50, 3)
	const bs = 7 // 7 batches per epoch, 1 sample dropped
	ref := NewBatcher(s, bs, true, 5)
	x := make([]float32, bs*s.D)
	y := make([]int32, bs)
	type batch struct {
		e, i int
		x    []float32
		y    []int32
	}
	var seq []batch
	var states []BatcherState
	for range 30 {
		states = append(states, ref.State())
		e, i := ref.Next(x, y)
		seq = append(seq, batch{e, i, slices.Clone(x), slices.Clone(y)})
	}
	for _, start := range []int{0, 3, 6, 7, 13, 22} {
		// Round-trip the state through JSON, as a checkpoint would.
		js, err := json.Marshal(states[start])
		if err != nil {
			t.Fatal(err)
		}
		var st BatcherState
		if err := json.Unmarshal(js, &st); err != nil {
			t.Fatal(err)
		}
		b := NewBatcher(s, bs, true, 5)
		if err := b.Restore(st); err != nil {
			t.Fatal(err)
		}
		for k := start; k < len(seq); k++ {
			e, i := b.Next(x, y)
			w := seq[k]
			if e != w.e || i != w.i || !slices.Equal(x, w.x) || !slices.Equal(y, w.y) {
				t.Fatalf("restored at %d: batch %d is (epoch %d, %d), want (epoch %d, %d) with the same content", start, k, e, i, w.e, w.i)
			}
		}
	}

	// A state at the very end of an epoch is accepted too.
	b := NewBatcher(s, bs, true, 5)
	if err := b.Restore(BatcherState{Epoch: 1, Batch: 7, Seed: 5, Shuffle: true, BatchSize: bs, N: 50}); err != nil {
		t.Fatal(err)
	}
	if e, i := b.Next(x, y); e != 2 || i != 0 || !slices.Equal(x, seq[14].x) {
		t.Errorf("after the end of epoch 1: (epoch %d, %d), want (2, 0) as dealt originally", e, i)
	}

	good := ref.State()
	for _, c := range []struct {
		edit func(*BatcherState)
		want string
	}{
		{func(st *BatcherState) { st.N = 51 }, "51 samples"},
		{func(st *BatcherState) { st.BatchSize = 8 }, "batch size 8"},
		{func(st *BatcherState) { st.Seed = 6 }, "seed=6"},
		{func(st *BatcherState) { st.Shuffle = false }, "shuffle=false"},
		{func(st *BatcherState) { st.Batch = 8 }, "batch 8"},
		{func(st *BatcherState) { st.Epoch = -1 }, "epoch -1"},
	} {
		st := good
		c.edit(&st)
		if err := NewBatcher(s, bs, true, 5).Restore(st); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Restore(%+v) = %v, want an error about %q", st, err, c.want)
		}
	}
}

func TestBatcherNoAlloc(t *testing.T) {
	s := indexSet(40, 3)
	b := NewBatcher(s, 4, true, 1)
	x := make([]float32, 4*s.D)
	y := make([]int32, 4)
	// 100 runs cross 10 epoch boundaries.
	if a := testing.AllocsPerRun(100, func() { b.Next(x, y) }); a != 0 {
		t.Errorf("Next allocates %v times per call", a)
	}
	q := NewSequential(s, 6)
	qx := make([]float32, 6*s.D)
	qy := make([]int32, 6)
	if a := testing.AllocsPerRun(100, func() {
		if _, ok := q.Next(qx, qy); !ok {
			q.Reset()
		}
	}); a != 0 {
		t.Errorf("Sequential.Next allocates %v times per call", a)
	}
}

func TestBatcherPanics(t *testing.T) {
	s := indexSet(5, 2)
	for _, bs := range []int{0, -1, 6} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewBatcher with batch size %d for 5 samples did not panic", bs)
				}
			}()
			NewBatcher(s, bs, true, 0)
		}()
	}
	defer func() {
		if recover() == nil {
			t.Error("Next with a short buffer did not panic")
		}
	}()
	NewBatcher(s, 2, true, 0).Next(make([]float32, 3), make([]int32, 2))
}

func TestSequential(t *testing.T) {
	for _, c := range []struct{ n, bs int }{{10, 3}, {10, 5}, {10, 16}, {1, 1}} {
		s := indexSet(c.n, 3)
		q := NewSequential(s, c.bs)
		x := make([]float32, c.bs*s.D)
		y := make([]int32, c.bs)
		for pass := range 2 {
			var got []int
			batches := 0
			for rows, ok := q.Next(x, y); ok; rows, ok = q.Next(x, y) {
				batches++
				if rows < 1 || rows > c.bs {
					t.Fatalf("n=%d bs=%d: %d rows", c.n, c.bs, rows)
				}
				for r := range rows {
					idx := int(x[r*s.D])
					if y[r] != s.Y[idx] || x[r*s.D+1] != -float32(idx) {
						t.Fatalf("n=%d bs=%d: row %d is not sample %d", c.n, c.bs, r, idx)
					}
					got = append(got, idx)
				}
				for r := rows; r < c.bs; r++ {
					if x[r*s.D] != 0 || x[r*s.D+1] != 0 || y[r] != 0 {
						t.Errorf("n=%d bs=%d: padding row %d not zero", c.n, c.bs, r)
					}
				}
			}
			if batches != q.Batches() {
				t.Errorf("n=%d bs=%d: %d batches, Batches() = %d", c.n, c.bs, batches, q.Batches())
			}
			for i, v := range got {
				if v != i {
					t.Fatalf("n=%d bs=%d pass %d: samples %v, want 0..%d in order", c.n, c.bs, pass, got, c.n-1)
				}
			}
			if len(got) != c.n {
				t.Errorf("n=%d bs=%d: %d samples, want %d", c.n, c.bs, len(got), c.n)
			}
			q.Reset()
		}
	}
}
