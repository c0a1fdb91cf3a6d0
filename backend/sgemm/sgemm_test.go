package sgemm

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
)

// reference computes alpha·op(A)·op(B) + beta·C in float64 by the definition.
func reference(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	at := func(i, l int) float64 {
		if tA == blas.NoTrans {
			return float64(a[i*lda+l])
		}
		return float64(a[l*lda+i])
	}
	bt := func(l, j int) float64 {
		if tB == blas.NoTrans {
			return float64(b[l*ldb+j])
		}
		return float64(b[j*ldb+l])
	}
	out := make([]float64, len(c))
	for i := range c {
		out[i] = float64(c[i])
	}
	for i := range m {
		for j := range n {
			s := 0.0
			for l := range k {
				s += at(i, l) * bt(l, j)
			}
			prev := 0.0
			if beta != 0 {
				prev = float64(beta) * float64(c[i*ldc+j])
			}
			out[i*ldc+j] = float64(alpha)*s + prev
		}
	}
	return out
}

func random(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// Every transpose combination, shapes with edge tiles in both directions and several k
// blocks, padded leading dimensions, and the alpha/beta cases, against the definition.
func TestSgemmMatchesDefinition(t *testing.T) {
	if !Available() {
		t.Skip("no AVX2/FMA kernel on this machine; Sgemm is gonum's")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{6, 16, 171}, {7, 17, 300}, {128, 256, 784}, {100, 10, 257}, {13, 200, 31}, {97, 33, 520}, {5, 2100, 8}}
	trans := []blas.Transpose{blas.NoTrans, blas.Trans}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, tA := range trans {
			for _, tB := range trans {
				for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {-2, 0.25}} {
					alpha, beta := ab[0], ab[1]
					rowsA, colsA := m, k
					if tA == blas.Trans {
						rowsA, colsA = k, m
					}
					rowsB, colsB := k, n
					if tB == blas.Trans {
						rowsB, colsB = n, k
					}
					lda, ldb, ldc := colsA+3, colsB+1, n+2
					a, b, c := random(rng, rowsA*lda), random(rng, rowsB*ldb), random(rng, m*ldc)
					if beta == 0 {
						for i := range c {
							c[i] = float32(math.NaN()) // must not be read
						}
					}
					want := reference(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
					Implementation{}.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
					for i := range m {
						for j := range ldc {
							got, w := float64(c[i*ldc+j]), want[i*ldc+j]
							if j >= n { // padding: untouched
								if beta == 0 && !math.IsNaN(got) || beta != 0 && got != w {
									t.Fatalf("%v %v %v: padding C[%d,%d] changed to %v", s, tA, tB, i, j, got)
								}
								continue
							}
							if math.Abs(got-w) > 1e-5*math.Sqrt(float64(k))*math.Max(1, math.Abs(w)) {
								t.Fatalf("%v %v %v α=%v β=%v: C[%d,%d] = %v, want %v", s, tA, tB, alpha, beta, i, j, got, w)
							}
						}
					}
				}
			}
		}
	}
}

// The split among goroutines does not change a single bit of the result.
func TestSgemmIndependentOfProcs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m, n, k := 131, 77, 600
	a, b := random(rng, m*k), random(rng, k*n)
	run := func(procs int) []float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		c := make([]float32, m*n)
		Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, b, n, 0, c, n)
		return c
	}
	if one, four := run(1), run(4); !slices.Equal(one, four) {
		t.Fatal("results differ between 1 and 4 goroutines")
	}
}

// Invalid arguments panic as gonum's do.
func TestSgemmPanicsOnBadArguments(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a too-short A")
		}
	}()
	c := make([]float32, 64*64)
	Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, 64, 64, 64, 1, make([]float32, 10), 64, make([]float32, 64*64), 64, 0, c, 64)
}

// The MLP's products (batch 128, 784-256-256-256-10): forward, input gradient, weight gradient.
func BenchmarkSgemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	x, w := random(rng, 128*784), random(rng, 784*256)
	for _, impl := range []struct {
		name string
		f    func(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	}{{"kernel", Implementation{}.Sgemm}, {"gonum", Implementation{}.Implementation.Sgemm}} {
		b.Run(impl.name+"/forward", func(b *testing.B) {
			c := make([]float32, 128*256)
			for b.Loop() {
				impl.f(blas.NoTrans, blas.NoTrans, 128, 256, 784, 1, x, 784, w, 256, 0, c, 256)
			}
		})
		b.Run(impl.name+"/input_grad", func(b *testing.B) {
			dh, dx := random(rng, 128*256), make([]float32, 128*784)
			for b.Loop() {
				impl.f(blas.NoTrans, blas.Trans, 128, 784, 256, 1, dh, 256, w, 256, 0, dx, 784)
			}
		})
		b.Run(impl.name+"/weight_grad", func(b *testing.B) {
			dh, dw := random(rng, 128*256), make([]float32, 784*256)
			for b.Loop() {
				impl.f(blas.Trans, blas.NoTrans, 784, 256, 128, 1, x, 784, dh, 256, 0, dw, 256)
			}
		})
	}
}
