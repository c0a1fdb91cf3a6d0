package graph

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Engine's Add gives what the standard engine gives, bit for bit, into a reuse tensor and in
// place (unsafe), both by its fast path, and as a new tensor (safe, delegated), in both dtypes
// and on lengths with tails.
func TestEngineAddMatchesStandardEngine(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		for _, shape := range [][]int{{3}, {5, 7}, {129, 1031}} {
			fresh := func() (a, b *tensor.Dense) {
				a = tensor.New(tensor.Of(dt), tensor.WithShape(shape...), tensor.WithEngine(Engine))
				b = tensor.New(tensor.Of(dt), tensor.WithShape(shape...), tensor.WithEngine(Engine))
				for _, x := range []*tensor.Dense{a, b} {
					switch d := x.Data().(type) {
					case []float32:
						for i := range d {
							d[i] = float32(r.NormFloat64())
						}
					case []float64:
						for i := range d {
							d[i] = r.NormFloat64()
						}
					}
				}
				return a, b
			}
			a, b := fresh()
			want, err := G.StandardEngine{}.Add(a, b)
			if err != nil {
				t.Fatal(err)
			}
			check := func(mode string, got tensor.Tensor, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%v %v %s: %v", dt, shape, mode, err)
				}
				if !got.Shape().Eq(want.Shape()) || !equalBits(got.Data(), want.Data()) {
					t.Fatalf("%v %v %s: %v, standard engine %v", dt, shape, mode, got, want)
				}
			}
			reuse := tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
			got, err := tensor.Add(a, b, tensor.WithReuse(reuse))
			check("reuse", got, err)
			if got != tensor.Tensor(reuse) {
				t.Errorf("reuse: the result is not the reuse tensor")
			}
			got, err = tensor.Add(a.Clone(), b)
			check("safe", got, err)
			in := a.Clone().(*tensor.Dense)
			got, err = tensor.Add(in, b, tensor.UseUnsafe())
			check("unsafe", got, err)
			if got != tensor.Tensor(in) {
				t.Errorf("unsafe: the result is not the first operand")
			}
			// The reuse and unsafe cases take the fast path; a safe add is delegated.
			if _, ok := fastAdd(a, b, tensor.WithReuse(reuse)); !ok {
				t.Errorf("%v %v: a reuse add is not taken by the fast path", dt, shape)
			}
			if _, ok := fastAdd(a.Clone().(*tensor.Dense), b, tensor.UseUnsafe()); !ok {
				t.Errorf("%v %v: an unsafe add is not taken by the fast path", dt, shape)
			}
			if _, ok := fastAdd(a, b); ok {
				t.Errorf("%v %v: the fast path took a safe add", dt, shape)
			}
		}
	}
}

func equalBits(a, b any) bool {
	switch a := a.(type) {
	case []float32:
		b := b.([]float32)
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return len(a) == len(b)
	case []float64:
		b := b.([]float64)
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return len(a) == len(b)
	}
	return false
}
