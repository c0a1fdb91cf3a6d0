package data

import (
	"fmt"
	"math"
	"slices"
)

// Set is a labelled data set held in memory.
type Set struct {
	X       []float32 // N×D samples, row-major
	Y       []int32   // N labels in [0, Classes)
	N       int       // number of samples
	D       int       // features per sample, the product of Shape
	Classes int       // number of classes
	Shape   []int     // per-sample shape; images are [H W C], channels last, e.g. [28 28 1]
	Name    string

	// ClassNames names the classes in label order when the source
	// provides names (image folders, CIFAR-10); it is nil otherwise.
	ClassNames []string
}

// Check reports whether the fields of s are consistent: lengths of X and
// Y, D against Shape, and every label in range.
func (s *Set) Check() error {
	if s.N < 0 || s.D <= 0 || s.Classes <= 0 {
		return fmt.Errorf("data: set %q: N=%d, D=%d, Classes=%d: want N ≥ 0, D > 0, Classes > 0", s.Name, s.N, s.D, s.Classes)
	}
	p := 1
	for _, d := range s.Shape {
		p *= d
	}
	if len(s.Shape) == 0 || p != s.D {
		return fmt.Errorf("data: set %q: shape %v has %d elements, want D=%d", s.Name, s.Shape, p, s.D)
	}
	if len(s.X) != s.N*s.D {
		return fmt.Errorf("data: set %q: len(X)=%d, want N·D=%d", s.Name, len(s.X), s.N*s.D)
	}
	if len(s.Y) != s.N {
		return fmt.Errorf("data: set %q: len(Y)=%d, want N=%d", s.Name, len(s.Y), s.N)
	}
	for i, y := range s.Y {
		if y < 0 || int(y) >= s.Classes {
			return fmt.Errorf("data: set %q: label %d of sample %d outside [0, %d)", s.Name, y, i, s.Classes)
		}
	}
	return nil
}

// Row returns sample i as a slice of s.X (not a copy).
func (s *Set) Row(i int) []float32 {
	return s.X[i*s.D : (i+1)*s.D : (i+1)*s.D]
}

// Subset returns a copy of the first n samples of s, or of all of them
// if n ≥ s.N. It panics if n is negative.
func (s *Set) Subset(n int) *Set {
	if n < 0 {
		panic(fmt.Sprintf("data: Subset(%d): negative size", n))
	}
	n = min(n, s.N)
	return &Set{
		X:       slices.Clone(s.X[:n*s.D]),
		Y:       slices.Clone(s.Y[:n]),
		N:       n,
		D:       s.D,
		Classes: s.Classes,
		Shape:   slices.Clone(s.Shape),
		Name:    s.Name,

		ClassNames: slices.Clone(s.ClassNames),
	}
}

// Sample returns a copy of n samples of s drawn without replacement by a stream seeded with
// seed, kept in their original order; all of s if n ≥ s.N. Unlike Subset it does not depend
// on how s is ordered (image folders come sorted by class).
func (s *Set) Sample(n int, seed uint64) *Set {
	if n < 0 {
		panic(fmt.Sprintf("data: Sample(%d): negative size", n))
	}
	if n >= s.N {
		return s.Subset(s.N)
	}
	perm := make([]int32, s.N)
	for i := range perm {
		perm[i] = int32(i)
	}
	newStream(seed, 0x5a3b1e).shuffle(perm)
	keep := perm[:n]
	slices.Sort(keep)
	out := &Set{X: make([]float32, 0, n*s.D), Y: make([]int32, 0, n), N: n, D: s.D, Classes: s.Classes,
		Shape: slices.Clone(s.Shape), Name: s.Name, ClassNames: slices.Clone(s.ClassNames)}
	for _, i := range keep {
		out.X = append(out.X, s.Row(int(i))...)
		out.Y = append(out.Y, s.Y[i])
	}
	return out
}

// Stats returns the mean and the standard deviation of all elements of
// s.X taken together, one scalar pair for every feature, accumulated in
// float64. The deviation is the population one (divided by N·D). This is
// the usual MNIST normalisation: the training set gives 0.1307, 0.3081.
// Compute it on the training set and apply it to both sets with
// Standardize.
func Stats(s *Set) (mean, std float32) {
	if len(s.X) == 0 {
		return 0, 0
	}
	var sum float64
	for _, v := range s.X {
		sum += float64(v)
	}
	m := sum / float64(len(s.X))
	// Two-pass variance avoids the cancellation of E[x²]−E[x]².
	var ss float64
	for _, v := range s.X {
		d := float64(v) - m
		ss += d * d
	}
	return float32(m), float32(math.Sqrt(ss / float64(len(s.X))))
}

// Standardize replaces every element x of s.X by (x−mean)/std. It panics
// if std is not positive.
func (s *Set) Standardize(mean, std float32) {
	if !(std > 0) {
		panic(fmt.Sprintf("data: Standardize: std=%v, want > 0", std))
	}
	inv := 1 / float64(std)
	for i, v := range s.X {
		s.X[i] = float32((float64(v) - float64(mean)) * inv)
	}
}

// FeatureStats returns the per-feature mean and population standard
// deviation of s, each of length s.D, accumulated in float64.
func FeatureStats(s *Set) (mean, std []float32) {
	sum := make([]float64, s.D)
	for i := range s.N {
		for j, v := range s.Row(i) {
			sum[j] += float64(v)
		}
	}
	n := float64(max(s.N, 1))
	for j := range sum {
		sum[j] /= n
	}
	ss := make([]float64, s.D)
	for i := range s.N {
		for j, v := range s.Row(i) {
			d := float64(v) - sum[j]
			ss[j] += d * d
		}
	}
	mean = make([]float32, s.D)
	std = make([]float32, s.D)
	for j := range sum {
		mean[j] = float32(sum[j])
		std[j] = float32(math.Sqrt(ss[j] / n))
	}
	return mean, std
}

// StandardizeFeatures replaces feature j of every sample by
// (x−mean[j])/std[j]. Features with std[j] ≤ eps are only centred, so
// constant pixels (MNIST's border) stay 0 instead of blowing up.
func (s *Set) StandardizeFeatures(mean, std []float32, eps float32) {
	if len(mean) != s.D || len(std) != s.D {
		panic(fmt.Sprintf("data: StandardizeFeatures: len(mean)=%d, len(std)=%d, want D=%d", len(mean), len(std), s.D))
	}
	inv := make([]float64, s.D)
	for j, sd := range std {
		inv[j] = 1
		if sd > eps {
			inv[j] = 1 / float64(sd)
		}
	}
	for i := range s.N {
		row := s.Row(i)
		for j, v := range row {
			row[j] = float32((float64(v) - float64(mean[j])) * inv[j])
		}
	}
}

// ClassCounts returns the number of samples of each class.
func (s *Set) ClassCounts() []int {
	c := make([]int, s.Classes)
	for _, y := range s.Y {
		c[y]++
	}
	return c
}
