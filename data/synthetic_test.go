package data

import (
	"math"
	"slices"
	"testing"
)

func setsEqual(a, b *Set) bool {
	return a.N == b.N && a.D == b.D && a.Classes == b.Classes &&
		slices.Equal(a.X, b.X) && slices.Equal(a.Y, b.Y) && slices.Equal(a.Shape, b.Shape)
}

func TestSyntheticDeterministic(t *testing.T) {
	o := SyntheticOptions{Classes: 4, D: 8, NTrain: 50, NTest: 20, Seed: 3}
	tr1, te1 := Synthetic(o)
	tr2, te2 := Synthetic(o)
	if !setsEqual(tr1, tr2) || !setsEqual(te1, te2) {
		t.Error("same options gave different sets")
	}
	for _, s := range []*Set{tr1, te1} {
		if err := s.Check(); err != nil {
			t.Error(err)
		}
	}
	o.Seed = 4
	tr3, te3 := Synthetic(o)
	if slices.Equal(tr1.X, tr3.X) || slices.Equal(te1.X, te3.X) {
		t.Error("different seeds gave the same samples")
	}
	if slices.Equal(tr1.Row(0), te1.Row(0)) {
		t.Error("train and test samples coincide")
	}
	// The test set does not depend on the size of the training set.
	o.Seed, o.NTrain = 3, 77
	_, te4 := Synthetic(o)
	if !setsEqual(te1, te4) {
		t.Error("changing NTrain changed the test set")
	}
}

func TestSyntheticDefaults(t *testing.T) {
	tr, te := Synthetic(SyntheticOptions{})
	if tr.N != 1000 || te.N != 1000 || tr.D != 32 || tr.Classes != 10 || !slices.Equal(tr.Shape, []int{32}) {
		t.Errorf("defaults: N=%d,%d D=%d Classes=%d Shape=%v", tr.N, te.N, tr.D, tr.Classes, tr.Shape)
	}
	for c, n := range tr.ClassCounts() {
		if n != 100 {
			t.Errorf("class %d has %d samples, want 100", c, n)
		}
	}
}

// nearestMean returns the accuracy on test of the classifier that picks
// the class whose training mean is closest.
func nearestMean(train, test *Set) float64 {
	d := train.D
	means := make([]float64, train.Classes*d)
	counts := train.ClassCounts()
	for i, y := range train.Y {
		for j, v := range train.Row(i) {
			means[int(y)*d+j] += float64(v) / float64(counts[y])
		}
	}
	right := 0
	for i, y := range test.Y {
		best, bestD := -1, math.Inf(1)
		for c := range train.Classes {
			var dist float64
			for j, v := range test.Row(i) {
				e := float64(v) - means[c*d+j]
				dist += e * e
			}
			if dist < bestD {
				best, bestD = c, dist
			}
		}
		if int32(best) == y {
			right++
		}
	}
	return float64(right) / float64(test.N)
}

// TestSyntheticGeometry checks the generative model: the empirical class
// means have norm ≈ Separation and the residuals have std ≈ Noise, and a
// nearest-class-mean classifier reaches the accuracy the model predicts.
func TestSyntheticGeometry(t *testing.T) {
	const (
		classes = 5
		d       = 64
		sep     = 4.0
		noise   = 1.5
	)
	tr, te := Synthetic(SyntheticOptions{Classes: classes, D: d, NTrain: 5000, NTest: 2000, Separation: sep, Noise: noise, Seed: 11})
	means := make([]float64, classes*d)
	counts := tr.ClassCounts()
	for i, y := range tr.Y {
		for j, v := range tr.Row(i) {
			means[int(y)*d+j] += float64(v) / float64(counts[y])
		}
	}
	var ss float64
	for i, y := range tr.Y {
		for j, v := range tr.Row(i) {
			r := float64(v) - means[int(y)*d+j]
			ss += r * r
		}
	}
	if got := math.Sqrt(ss / float64(tr.N*d)); math.Abs(got-noise) > 0.02*noise {
		t.Errorf("residual std %v, want %v", got, noise)
	}
	for c := range classes {
		var n2 float64
		for _, v := range means[c*d : (c+1)*d] {
			n2 += v * v
		}
		// E‖mean estimate‖² = sep² + noise²·d/count.
		want := sep*sep + noise*noise*d/float64(counts[c])
		if math.Abs(n2-want) > 0.1*want {
			t.Errorf("class %d: squared mean norm %v, want about %v", c, n2, want)
		}
	}

	// A union bound over the pairwise errors, Φ(−sep/(√2·noise)) each,
	// gives a floor for the accuracy (less a margin for the estimated
	// means and the finite test set).
	pair := 0.5 * math.Erfc(sep/(math.Sqrt2*noise)/math.Sqrt2)
	floor := 1 - float64(classes-1)*pair - 0.05
	if acc := nearestMean(tr, te); acc < floor {
		t.Errorf("nearest-mean test accuracy %v, want ≥ %v", acc, floor)
	}
	// With the classes on top of each other, accuracy is chance.
	tr0, te0 := Synthetic(SyntheticOptions{Classes: classes, D: d, NTrain: 5000, NTest: 2000, Separation: 1e-6, Noise: noise, Seed: 11})
	if acc := nearestMean(tr0, te0); math.Abs(acc-1.0/classes) > 0.05 {
		t.Errorf("nearest-mean accuracy %v with no separation, want about %v", acc, 1.0/classes)
	}
}

func TestStreamDraws(t *testing.T) {
	r := newStream(5, 0)
	const n = 200000
	var sum, sq float64
	for range n {
		v := r.normal()
		sum += v
		sq += v * v
	}
	mean, vr := sum/n, sq/n-(sum/n)*(sum/n)
	if math.Abs(mean) > 0.01 || math.Abs(vr-1) > 0.02 {
		t.Errorf("normal: mean %v, variance %v, want 0, 1", mean, vr)
	}

	// Fisher–Yates over 4 items: each of the 24 orders about equally often.
	const trials = 48000
	freq := map[[4]int32]int{}
	p := make([]int32, 4)
	for range trials {
		for i := range p {
			p[i] = int32(i)
		}
		r.shuffle(p)
		freq[[4]int32(p)]++
	}
	if len(freq) != 24 {
		t.Fatalf("%d distinct orders, want 24", len(freq))
	}
	var chi2 float64
	for _, f := range freq {
		e := float64(trials) / 24
		chi2 += (float64(f) - e) * (float64(f) - e) / e
	}
	// 23 degrees of freedom: P(χ² > 55) < 2e-4.
	if chi2 > 55 {
		t.Errorf("χ² = %v over the 24 orders, want a uniform shuffle", chi2)
	}

	// intn over a bound that does not divide 2⁶⁴ stays in range and is flat.
	counts := make([]int, 7)
	for range 70000 {
		counts[r.intn(7)]++
	}
	for k, c := range counts {
		if math.Abs(float64(c)-10000) > 500 {
			t.Errorf("intn(7) gave %d %d times, want about 10000", k, c)
		}
	}
}
