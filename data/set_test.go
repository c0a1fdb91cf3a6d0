package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomSet returns a set of n samples of the given shape with values of
// mean about 3 and spread about 2, so that normalisation has work to do.
func randomSet(n int, shape []int, classes int, seed uint64) *Set {
	r := rand.New(rand.NewPCG(seed, 99))
	d := 1
	for _, v := range shape {
		d *= v
	}
	s := &Set{X: make([]float32, n*d), Y: make([]int32, n), N: n, D: d, Classes: classes, Shape: slices.Clone(shape), Name: "random"}
	for i := range s.X {
		s.X[i] = float32(3 + 2*r.NormFloat64() + float64(i%d)/float64(d))
	}
	for i := range s.Y {
		s.Y[i] = int32(r.IntN(classes))
	}
	return s
}

func TestStats(t *testing.T) {
	s := randomSet(37, []int{2, 3, 5}, 4, 1)
	// Brute force: one-pass sums in float64, an independent formula.
	var sum, sq float64
	for _, v := range s.X {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(s.X))
	wantMean := sum / n
	wantStd := math.Sqrt(sq/n - wantMean*wantMean)
	mean, std := Stats(s)
	if math.Abs(float64(mean)-wantMean) > 1e-6 || math.Abs(float64(std)-wantStd) > 1e-6 {
		t.Errorf("Stats = %v, %v, want %v, %v", mean, std, wantMean, wantStd)
	}

	s.Standardize(mean, std)
	m2, s2 := Stats(s)
	if math.Abs(float64(m2)) > 1e-6 || math.Abs(float64(s2)-1) > 1e-6 {
		t.Errorf("after Standardize: mean %v, std %v, want 0, 1", m2, s2)
	}
}

func TestStandardizeElementwise(t *testing.T) {
	s := randomSet(5, []int{3}, 2, 2)
	orig := slices.Clone(s.X)
	s.Standardize(1.5, 0.25)
	for i, v := range orig {
		if want := (v - 1.5) / 0.25; math.Abs(float64(s.X[i]-want)) > 1e-5 {
			t.Errorf("element %d: %v, want %v", i, s.X[i], want)
		}
	}
}

func TestFeatureStats(t *testing.T) {
	s := randomSet(23, []int{1, 2, 3}, 3, 3)
	// Make one feature constant: it must be centred, not divided by 0.
	for i := range s.N {
		s.Row(i)[4] = 7
	}
	mean, std := FeatureStats(s)
	for j := range s.D {
		var col []float64
		for i := range s.N {
			col = append(col, float64(s.X[i*s.D+j]))
		}
		var m, v float64
		for _, x := range col {
			m += x
		}
		m /= float64(len(col))
		for _, x := range col {
			v += (x - m) * (x - m)
		}
		v = math.Sqrt(v / float64(len(col)))
		if math.Abs(float64(mean[j])-m) > 1e-5 || math.Abs(float64(std[j])-v) > 1e-5 {
			t.Errorf("feature %d: %v, %v, want %v, %v", j, mean[j], std[j], m, v)
		}
	}
	s.StandardizeFeatures(mean, std, 1e-6)
	m2, s2 := FeatureStats(s)
	for j := range s.D {
		wantStd := 1.0
		if j == 4 {
			wantStd = 0
		}
		if math.Abs(float64(m2[j])) > 1e-5 || math.Abs(float64(s2[j])-wantStd) > 1e-5 {
			t.Errorf("after StandardizeFeatures, feature %d: %v, %v, want 0, %v", j, m2[j], s2[j], wantStd)
		}
	}
}

func TestSubset(t *testing.T) {
	s := randomSet(10, []int{4}, 3, 4)
	sub := s.Subset(3)
	if sub.N != 3 || len(sub.X) != 12 || len(sub.Y) != 3 || sub.D != 4 || sub.Classes != 3 {
		t.Fatalf("Subset(3): N=%d len(X)=%d len(Y)=%d", sub.N, len(sub.X), len(sub.Y))
	}
	if !slices.Equal(sub.X, s.X[:12]) || !slices.Equal(sub.Y, s.Y[:3]) {
		t.Error("Subset(3) is not the first 3 samples")
	}
	sub.X[0], sub.Shape[0] = -100, 99
	if s.X[0] == -100 || s.Shape[0] == 99 {
		t.Error("Subset shares memory with its parent")
	}
	if all := s.Subset(100); all.N != 10 || !slices.Equal(all.X, s.X) {
		t.Errorf("Subset(100) of 10 samples: N=%d", all.N)
	}
	if err := s.Subset(0).Check(); err != nil {
		t.Errorf("Subset(0): %v", err)
	}
}

func TestCheck(t *testing.T) {
	good := randomSet(4, []int{1, 2, 2}, 3, 5)
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		edit  func(s *Set)
		wants string
	}{
		{"short X", func(s *Set) { s.X = s.X[:3] }, "len(X)"},
		{"short Y", func(s *Set) { s.Y = s.Y[:3] }, "len(Y)"},
		{"shape", func(s *Set) { s.Shape = []int{1, 2, 3} }, "shape"},
		{"label", func(s *Set) { s.Y[2] = 3 }, "label 3 of sample 2"},
		{"negative label", func(s *Set) { s.Y[1] = -1 }, "label -1 of sample 1"},
		{"classes", func(s *Set) { s.Classes = 0 }, "Classes=0"},
	} {
		s := good.Subset(4)
		c.edit(s)
		if err := s.Check(); err == nil || !strings.Contains(err.Error(), c.wants) {
			t.Errorf("%s: Check() = %v, want an error about %q", c.name, err, c.wants)
		}
	}
}

// Sample draws without replacement, keeps the original order, is reproducible for a seed and
// reaches every class of a class-sorted set.
func TestSample(t *testing.T) {
	s := &Set{N: 1000, D: 1, Classes: 10, Shape: []int{1}}
	for i := 0; i < 1000; i++ {
		s.X = append(s.X, float32(i))
		s.Y = append(s.Y, int32(i/100)) // sorted by class
	}
	a, b := s.Sample(100, 7), s.Sample(100, 7)
	if !slices.Equal(a.X, b.X) || a.N != 100 {
		t.Fatalf("same seed, different samples")
	}
	if slices.Equal(a.X, s.Sample(100, 8).X) {
		t.Error("different seeds, same sample")
	}
	classes := map[int32]bool{}
	for i, v := range a.X {
		if i > 0 && v <= a.X[i-1] {
			t.Fatalf("order not kept or repeated sample: %v", a.X)
		}
		if a.Y[i] != int32(v)/100 {
			t.Fatalf("label of sample %v is %d", v, a.Y[i])
		}
		classes[a.Y[i]] = true
	}
	if len(classes) < 8 {
		t.Errorf("a 100-sample draw from a class-sorted set covers %d classes", len(classes))
	}
	if s.Sample(5000, 1).N != 1000 {
		t.Error("oversized sample")
	}
}
