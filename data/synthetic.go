package data

import (
	"fmt"
	"math"
)

// SyntheticOptions configures Synthetic. A zero field takes its default.
type SyntheticOptions struct {
	Classes    int     // number of classes; default 10
	D          int     // features per sample; default 32
	NTrain     int     // training samples; default 1000
	NTest      int     // test samples; default 1000
	Separation float64 // norm of every class mean; default 3
	Noise      float64 // standard deviation of the isotropic noise; default 1
	Seed       uint64  // the same seed gives the same sets
}

// Synthetic returns training and test sets of Gaussian clusters: class c
// has mean μ_c, a random direction scaled to norm Separation, and a
// sample of class c is μ_c + Noise·ε with ε ~ N(0, I). In high dimension
// the means are nearly orthogonal, so two classes lie about
// √2·Separation apart and the optimal classifier between them errs with
// probability near Φ(−Separation/(√2·Noise)). Classes are balanced (the
// counts differ by at most one) and labels come in random order.
//
// The class means depend on Seed only; training and test samples come
// from separate streams, so changing NTrain leaves the test set unchanged.
// Synthetic panics if a field is negative.
func Synthetic(opts SyntheticOptions) (train, test *Set) {
	o := opts
	if o.Classes < 0 || o.D < 0 || o.NTrain < 0 || o.NTest < 0 || o.Separation < 0 || o.Noise < 0 {
		panic(fmt.Sprintf("data: Synthetic: negative option in %+v", opts))
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Classes, 10)
	def(&o.D, 32)
	def(&o.NTrain, 1000)
	def(&o.NTest, 1000)
	if o.Separation == 0 {
		o.Separation = 3
	}
	if o.Noise == 0 {
		o.Noise = 1
	}

	r := newStream(o.Seed, 0)
	means := make([]float64, o.Classes*o.D)
	for c := range o.Classes {
		mu := means[c*o.D : (c+1)*o.D]
		var ss float64
		for j := range mu {
			mu[j] = r.normal()
			ss += mu[j] * mu[j]
		}
		scale := o.Separation / math.Sqrt(ss)
		for j := range mu {
			mu[j] *= scale
		}
	}
	gen := func(n int, id uint64, name string) *Set {
		r := newStream(o.Seed, id)
		s := &Set{
			X:       make([]float32, n*o.D),
			Y:       make([]int32, n),
			N:       n,
			D:       o.D,
			Classes: o.Classes,
			Shape:   []int{o.D},
			Name:    name,
		}
		for i := range s.Y {
			s.Y[i] = int32(i % o.Classes)
		}
		r.shuffle(s.Y)
		for i, y := range s.Y {
			mu := means[int(y)*o.D : (int(y)+1)*o.D]
			row := s.Row(i)
			for j := range row {
				row[j] = float32(mu[j] + o.Noise*r.normal())
			}
		}
		return s
	}
	return gen(o.NTrain, 1, "synthetic/train"), gen(o.NTest, 2, "synthetic/test")
}
