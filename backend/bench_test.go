package backend

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// benchImpl installs mode and returns the implementation the program would
// use; mode OpenBLAS skips when the library is absent.
func benchImpl(b *testing.B, mode Mode) impl {
	useBackend(b, mode, 0)
	if mode == OpenBLAS {
		return openblasImpl{lib: loaded}
	}
	return gonum.Implementation{}
}

// BenchmarkSgemm multiplies a batch of 128 MNIST images by a 784×256 weight
// matrix, the first layer of the MLP.
func BenchmarkSgemm(b *testing.B) {
	const m, k, n = 128, 784, 256
	rnd := rand.New(rand.NewPCG(1, 1))
	x, w, y := randomSlice[float32](rnd, m*k), randomSlice[float32](rnd, k*n), make([]float32, m*n)
	for _, mode := range []Mode{OpenBLAS, Gonum} {
		b.Run(string(mode), func(b *testing.B) {
			impl := benchImpl(b, mode)
			for b.Loop() {
				impl.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, x, k, w, n, 0, y, n)
			}
			b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkDgemmSmall measures square products around the size cut-off
// minWork, with every product sent to OpenBLAS.
func BenchmarkDgemmSmall(b *testing.B) {
	for _, n := range []int{4, 8, 12, 16, 24, 32} {
		rnd := rand.New(rand.NewPCG(2, 2))
		x, y, z := randomSlice[float64](rnd, n*n), randomSlice[float64](rnd, n*n), make([]float64, n*n)
		for _, mode := range []Mode{OpenBLAS, Gonum} {
			b.Run(fmt.Sprintf("n=%d/%s", n, mode), func(b *testing.B) {
				impl := benchImpl(b, mode)
				saved := minWork
				minWork = 1
				defer func() { minWork = saved }()
				for b.Loop() {
					impl.Dgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, x, n, y, n, 0, z, n)
				}
			})
		}
	}
}

// BenchmarkSymEigenvalues covers the orders of the analysis' factors: the
// largest gonum case takes minutes and runs only with LWCA_BENCH_SLOW=1.
func BenchmarkSymEigenvalues(b *testing.B) {
	for _, n := range []int{256, 785, 2304, 4608} {
		rnd := rand.New(rand.NewPCG(3, uint64(n)))
		a := randomSym(rnd, n, true)
		for _, mode := range []Mode{OpenBLAS, Gonum} {
			b.Run(fmt.Sprintf("n=%d/%s", n, mode), func(b *testing.B) {
				if mode == Gonum && n >= 4608 && os.Getenv("LWCA_BENCH_SLOW") != "1" {
					b.Skip("takes about two minutes; set LWCA_BENCH_SLOW=1")
				}
				benchImpl(b, mode)
				for b.Loop() {
					if _, err := SymEigenvalues(n, a); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSgemmThreads compares OpenBLAS thread counts on the product of
// BenchmarkSgemm; run it on a busy and on an idle machine.
func BenchmarkSgemmThreads(b *testing.B) {
	const m, k, n = 128, 784, 256
	rnd := rand.New(rand.NewPCG(1, 1))
	x, w, y := randomSlice[float32](rnd, m*k), randomSlice[float32](rnd, k*n), make([]float32, m*n)
	for _, threads := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			useBackend(b, OpenBLAS, threads)
			impl := openblasImpl{lib: loaded}
			for b.Loop() {
				impl.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, x, k, w, n, 0, y, n)
			}
		})
	}
}
