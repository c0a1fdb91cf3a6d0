package data

import (
	"fmt"
)

// Batcher deals fixed-size training batches from a set, epoch after
// epoch. It drops the last partial batch of every epoch, since graphs
// have static shapes. When shuffling, the order of epoch e is a
// permutation drawn from a stream derived from (seed, e) alone, so any
// position can be restored exactly without replaying earlier epochs.
type Batcher struct {
	set     *Set
	size    int
	shuffle bool
	seed    uint64

	perm  []int32
	epoch int
	batch int // next batch of the epoch to deal
	rng   stream
}

// BatcherState is the position of a Batcher, enough to resume a run
// mid-epoch. It is plain data, to be stored with a checkpoint.
type BatcherState struct {
	Epoch     int    `json:"epoch"`
	Batch     int    `json:"batch"` // next batch to deal within Epoch
	Seed      uint64 `json:"seed"`
	Shuffle   bool   `json:"shuffle"`
	BatchSize int    `json:"batch_size"`
	N         int    `json:"n"` // samples in the set, to detect a different set
}

// NewBatcher returns a Batcher over s dealing batches of batchSize
// samples, in random order if shuffle is set. It panics unless
// 0 < batchSize ≤ s.N.
func NewBatcher(s *Set, batchSize int, shuffle bool, seed uint64) *Batcher {
	if batchSize <= 0 || batchSize > s.N {
		panic(fmt.Sprintf("data: NewBatcher: batch size %d for %d samples, want 1 to %d", batchSize, s.N, s.N))
	}
	b := &Batcher{set: s, size: batchSize, shuffle: shuffle, seed: seed, perm: make([]int32, s.N)}
	b.startEpoch(0)
	return b
}

// BatchSize returns the number of samples in a batch.
func (b *Batcher) BatchSize() int { return b.size }

// BatchesPerEpoch returns ⌊N/batchSize⌋.
func (b *Batcher) BatchesPerEpoch() int { return b.set.N / b.size }

func (b *Batcher) startEpoch(e int) {
	b.epoch, b.batch = e, 0
	for i := range b.perm {
		b.perm[i] = int32(i)
	}
	if b.shuffle {
		b.rng.seed(b.seed, uint64(e))
		b.rng.shuffle(b.perm)
	}
}

// Next fills x (batchSize×D) and y (batchSize) with the next batch and
// returns its epoch and its index within the epoch. It does not allocate.
// It panics if x or y is too short.
func (b *Batcher) Next(x []float32, y []int32) (epoch, index int) {
	d := b.set.D
	if len(x) < b.size*d || len(y) < b.size {
		panic(fmt.Sprintf("data: Batcher.Next: buffers of %d and %d elements, want %d and %d", len(x), len(y), b.size*d, b.size))
	}
	if b.batch == b.BatchesPerEpoch() {
		b.startEpoch(b.epoch + 1)
	}
	idx := b.perm[b.batch*b.size : (b.batch+1)*b.size]
	for i, k := range idx {
		copy(x[i*d:(i+1)*d], b.set.X[int(k)*d:(int(k)+1)*d])
		y[i] = b.set.Y[k]
	}
	epoch, index = b.epoch, b.batch
	b.batch++
	return epoch, index
}

// Indices returns the sample indices of the batch Next would deal at
// (epoch, index) of this batcher's configuration; it is for inspection
// and tests, and allocates.
func (b *Batcher) Indices(epoch, index int) []int32 {
	c := &Batcher{set: b.set, size: b.size, shuffle: b.shuffle, seed: b.seed, perm: make([]int32, b.set.N)}
	c.startEpoch(epoch)
	return append([]int32(nil), c.perm[index*b.size:(index+1)*b.size]...)
}

// State returns the current position.
func (b *Batcher) State() BatcherState {
	return BatcherState{
		Epoch: b.epoch, Batch: b.batch,
		Seed: b.seed, Shuffle: b.shuffle,
		BatchSize: b.size, N: b.set.N,
	}
}

// Restore moves b to the position st, taken from State of a batcher with
// the same configuration; afterwards Next deals what that batcher would
// have dealt next.
func (b *Batcher) Restore(st BatcherState) error {
	switch {
	case st.N != b.set.N:
		return fmt.Errorf("data: Batcher.Restore: state for %d samples, set has %d", st.N, b.set.N)
	case st.BatchSize != b.size:
		return fmt.Errorf("data: Batcher.Restore: state for batch size %d, batcher has %d", st.BatchSize, b.size)
	case st.Shuffle != b.shuffle || st.Seed != b.seed:
		return fmt.Errorf("data: Batcher.Restore: state has shuffle=%v seed=%d, batcher has shuffle=%v seed=%d",
			st.Shuffle, st.Seed, b.shuffle, b.seed)
	case st.Epoch < 0 || st.Batch < 0 || st.Batch > b.BatchesPerEpoch():
		return fmt.Errorf("data: Batcher.Restore: position epoch %d batch %d, want epoch ≥ 0 and batch in [0, %d]",
			st.Epoch, st.Batch, b.BatchesPerEpoch())
	}
	b.startEpoch(st.Epoch)
	b.batch = st.Batch
	return nil
}

// Sequential walks a set once in order, for evaluation: it covers every
// sample, the last batch being partial when batchSize does not divide N.
//
//	it := data.NewSequential(test, 256)
//	for rows, ok := it.Next(x, y); ok; rows, ok = it.Next(x, y) {
//		// use the first rows rows of x and y
//	}
type Sequential struct {
	set  *Set
	size int
	pos  int
}

// NewSequential returns a Sequential over s with batches of batchSize
// samples. It panics if batchSize is not positive.
func NewSequential(s *Set, batchSize int) *Sequential {
	if batchSize <= 0 {
		panic(fmt.Sprintf("data: NewSequential: batch size %d, want > 0", batchSize))
	}
	return &Sequential{set: s, size: batchSize}
}

// Batches returns the number of batches in a pass, ⌈N/batchSize⌉.
func (q *Sequential) Batches() int { return (q.set.N + q.size - 1) / q.size }

// Reset starts a new pass.
func (q *Sequential) Reset() { q.pos = 0 }

// Next fills x (batchSize×D) and y (batchSize) with the next samples and
// returns how many rows are valid; rows past them are set to zero (x)
// and zero (y). It returns ok = false, and leaves x and y alone, once the
// pass is over. It panics if x or y is too short.
func (q *Sequential) Next(x []float32, y []int32) (rows int, ok bool) {
	d := q.set.D
	if len(x) < q.size*d || len(y) < q.size {
		panic(fmt.Sprintf("data: Sequential.Next: buffers of %d and %d elements, want %d and %d", len(x), len(y), q.size*d, q.size))
	}
	if q.pos >= q.set.N {
		return 0, false
	}
	rows = min(q.size, q.set.N-q.pos)
	copy(x[:rows*d], q.set.X[q.pos*d:(q.pos+rows)*d])
	copy(y[:rows], q.set.Y[q.pos:q.pos+rows])
	clear(x[rows*d : q.size*d])
	clear(y[rows:q.size])
	q.pos += rows
	return rows, true
}
