package backend

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// mlpOutputs runs y = x·W, cost = sum(y ⊙ y) and its gradient with respect to
// W through gorgonia, whose MatMul and its backward pass (xᵀ·dy) call BLAS.
func mlpOutputs[T float32 | float64](t *testing.T, dt tensor.Dtype, xs, ws []T, b, in, out int) (y, dw []T) {
	t.Helper()
	g := gorgonia.NewGraph()
	x := gorgonia.NewMatrix(g, dt, gorgonia.WithShape(b, in), gorgonia.WithName("x"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(b, in), tensor.WithBacking(append([]T(nil), xs...)))))
	w := gorgonia.NewMatrix(g, dt, gorgonia.WithShape(in, out), gorgonia.WithName("w"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(in, out), tensor.WithBacking(append([]T(nil), ws...)))))
	h := gorgonia.Must(gorgonia.Mul(x, w))
	cost := gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.Square(h))))
	var hv gorgonia.Value
	gorgonia.Read(h, &hv)
	if _, err := gorgonia.Grad(cost, w); err != nil {
		t.Fatal(err)
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	grad, err := w.Grad()
	if err != nil {
		t.Fatal(err)
	}
	y = append([]T(nil), hv.Data().([]T)...)
	dw = append([]T(nil), grad.Data().([]T)...)
	return y, dw
}

func testGorgonia[T float32 | float64](t *testing.T, dt tensor.Dtype, calls func() int64, tol float64) {
	const b, in, out = 32, 50, 24
	rnd := rand.New(rand.NewPCG(10, 11))
	xs, ws := randomSlice[T](rnd, b*in), randomSlice[T](rnd, in*out)

	useBackend(t, Gonum, 0)
	before := calls()
	yg, dwg := mlpOutputs(t, dt, xs, ws, b, in, out)
	if calls() != before {
		t.Fatal("gonum backend reached OpenBLAS")
	}
	useBackend(t, OpenBLAS, 0)
	before = calls()
	yo, dwo := mlpOutputs(t, dt, xs, ws, b, in, out)
	if n := calls() - before; n < 2 {
		t.Fatalf("gorgonia made %d OpenBLAS gemm calls, want ≥ 2 (forward and backward MatMul)", n)
	}

	// Independent reference: y = x·W and dW = xᵀ·(2y) in float64 loops.
	c := gemmCase{tA: blas.NoTrans, tB: blas.NoTrans, m: b, n: out, k: in, lda: in, ldb: out, ldc: out, alpha: 1}
	checkGemmResult(t, "gorgonia gonum y", c, xs, ws, make([]T, b*out), yg, tol)
	checkGemmResult(t, "gorgonia openblas y", c, xs, ws, make([]T, b*out), yo, tol)
	dy := make([]T, len(yg))
	for i, v := range yg {
		dy[i] = 2 * v
	}
	cw := gemmCase{tA: blas.Trans, tB: blas.NoTrans, m: in, n: out, k: b, lda: in, ldb: out, ldc: out, alpha: 1}
	checkGemmResult(t, "gorgonia gonum dW", cw, xs, dy, make([]T, in*out), dwg, 10*tol)
	checkGemmResult(t, "gorgonia openblas dW", cw, xs, dy, make([]T, in*out), dwo, 10*tol)

	for i := range yg {
		if d := math.Abs(float64(yg[i] - yo[i])); d > tol*(1+math.Abs(float64(yg[i])))*float64(in) {
			t.Fatalf("y[%d]: gonum %v, openblas %v", i, yg[i], yo[i])
		}
	}
}

func TestGorgoniaMatMulFloat32(t *testing.T) {
	testLibrary(t)
	testGorgonia[float32](t, tensor.Float32, callCounts.sgemm.Load, 1e-5)
}

func TestGorgoniaMatMulFloat64(t *testing.T) {
	testLibrary(t)
	testGorgonia[float64](t, tensor.Float64, callCounts.dgemm.Load, 1e-12)
}
