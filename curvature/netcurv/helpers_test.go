package netcurv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lwca/lwca/curvature"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// batch returns n seeded standard-normal inputs of width dim (float32) and labels.
func batch(n, dim, classes int, seed uint64) ([]float32, []int32) {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n*dim)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(rng.IntN(classes))
	}
	return x, y
}

func newMLP(t testing.TB, spec nets.MLPSpec, n int, seed uint64) *Model {
	t.Helper()
	net, err := nets.MLP(spec)
	if err != nil {
		t.Fatal(err)
	}
	return newModel(t, net, spec.Input, spec.Classes, n, seed)
}

func newCNN(t testing.TB, spec nets.CNNSpec, n int, seed uint64) *Model {
	t.Helper()
	net, err := nets.CNN(spec)
	if err != nil {
		t.Fatal(err)
	}
	return newModel(t, net, spec.Input[0]*spec.Input[1]*spec.Input[2], spec.Classes, n, seed)
}

// newModel returns the model of net on n seeded samples of width dim.
func newModel(t testing.TB, net graph.Layer, dim, classes, n int, seed uint64) *Model {
	t.Helper()
	x, y := batch(n, dim, classes, seed)
	m, err := New(net, graph.NewStore(tensor.Float64, seed), x, y, dim)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var (
	mlpPlain = nets.MLPSpec{Input: 4, Depth: 3, Width: 5, Classes: 3, Bias: true, Activation: graph.Tanh}
	mlpBN    = nets.MLPSpec{Input: 4, Depth: 3, Width: 5, Classes: 3, Bias: true, Activation: graph.Tanh, Norm: nets.BatchNorm}
	cnnPlain = nets.CNNSpec{Input: [3]int{4, 4, 2}, Channels: []int{3}, Classes: 3, Activation: graph.Tanh, Bias: true}
	cnnBN    = nets.CNNSpec{Input: [3]int{4, 4, 2}, Channels: []int{3, 2}, PoolEvery: 2, Classes: 3, Activation: graph.Tanh, Norm: nets.BatchNorm}
)

// dense forms an operator's matrix, failing the test on error.
func dense(t *testing.T, op curvature.Operator) *mat.SymDense {
	t.Helper()
	a, err := curvature.Matrix(op)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// relFrob returns ‖a − b‖_F / ‖b‖_F.
func relFrob(a, b mat.Matrix) float64 {
	var d mat.Dense
	d.Sub(a, b)
	return mat.Norm(&d, 2) / mat.Norm(b, 2)
}

// eigen returns the ascending eigenvalues of a.
func eigen(t *testing.T, a mat.Symmetric) []float64 {
	t.Helper()
	var es mat.EigenSym
	if !es.Factorize(a, false) {
		t.Fatal("EigenSym failed")
	}
	return es.Values(nil)
}

func randomUnit(n int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	s := norm(v)
	for i := range v {
		v[i] /= s
	}
	return v
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}
