package netcurv

import (
	"testing"

	"github.com/lwca/lwca/curvature"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
)

// An MNIST-sized MLP (784-256-256-256-10, BatchNorm; 335k parameters) on 512 samples.
func benchModel(b *testing.B) (*Model, *Selection) {
	m := newMLP(b, nets.MLPSpec{Input: 784, Depth: 4, Width: 256, Classes: 10, Bias: true, Activation: graph.ReLU, Norm: nets.BatchNorm}, 512, 1)
	s, err := m.Select()
	if err != nil {
		b.Fatal(err)
	}
	return m, s
}

func benchProduct(b *testing.B, op curvature.Operator) {
	v := randomUnit(op.Dim(), 1)
	dst := make([]float64, op.Dim())
	for b.Loop() {
		op.Apply(dst, v)
	}
}

func BenchmarkHessianVector(b *testing.B) {
	m, s := benchModel(b)
	h, _ := m.Hessian(s, Options{})
	benchProduct(b, h)
}

func BenchmarkGGNVector(b *testing.B) {
	m, s := benchModel(b)
	g, err := m.GGN(s, Options{})
	if err != nil {
		b.Fatal(err)
	}
	benchProduct(b, g)
}

func BenchmarkEFVector(b *testing.B) {
	m, _ := benchModel(b)
	s, err := m.Weights()
	if err != nil {
		b.Fatal(err)
	}
	e, err := m.EF(s)
	if err != nil {
		b.Fatal(err)
	}
	benchProduct(b, e)
}
