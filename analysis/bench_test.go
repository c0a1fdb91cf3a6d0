package analysis

import (
	"flag"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func benchmarkAddRows32(b *testing.B, rows, dim int, zeros float64) {
	rng := rand.New(rand.NewPCG(20, 20))
	x := to32(randomRows(rng, rows, dim, zeros, 0))
	m := NewMoment(dim)
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		m.AddRows32(x, rows, 1)
	}
}

// Dense rows, the worst case, and rows that are 80 % zeros like MNIST
// pixels.
func BenchmarkAddRows32_128x784(b *testing.B)       { benchmarkAddRows32(b, 128, 784, 0) }
func BenchmarkAddRows32_128x784Sparse(b *testing.B) { benchmarkAddRows32(b, 128, 784, 0.8) }
func BenchmarkAddRows32_128x256(b *testing.B)       { benchmarkAddRows32(b, 128, 256, 0) }

func benchmarkEigen(b *testing.B, n int) {
	rng := rand.New(rand.NewPCG(21, 21))
	a := randomPSD(rng, n, n+16)
	for b.Loop() {
		if _, err := Eigen(a, GonumEigenvalues); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEigen256(b *testing.B) { benchmarkEigen(b, 256) }
func BenchmarkEigen785(b *testing.B) { benchmarkEigen(b, 785) }

// BenchmarkEigen2304 takes tens of seconds per run, so it only runs when
// the -bench pattern names it, as in -bench=Eigen2304.
func BenchmarkEigen2304(b *testing.B) {
	if f := flag.Lookup("test.bench"); f == nil || !strings.Contains(f.Value.String(), "2304") {
		b.Skip("slow: run with -bench=Eigen2304")
	}
	benchmarkEigen(b, 2304)
}

// The product spectrum of the MNIST MLP's first layer (785 × 256 values): the radix sort
// against the comparison sort it replaces.
func BenchmarkKroneckerSort785x256(b *testing.B) {
	rng := rand.New(rand.NewPCG(22, 22))
	v := make([]float64, 785*256)
	for i := range v {
		v[i] = rng.ExpFloat64()
	}
	w := make([]float64, len(v))
	b.Run("radix", func(b *testing.B) {
		for b.Loop() {
			copy(w, v)
			sortDescendingNonNegative(w)
		}
	})
	b.Run("comparison", func(b *testing.B) {
		for b.Loop() {
			copy(w, v)
			slices.Sort(w)
			slices.Reverse(w)
		}
	})
}
