package curvature

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// sameProbeMoments returns (1/P) Σₚ vₚᵀ Aᵏ vₚ / n for k = 0…kmax with the probes SLQ draws.
func sameProbeMoments(a *mat.SymDense, probes, kmax int, seed uint64) []float64 {
	n := a.SymmetricDim()
	rng := newRNG(seed, streamSLQ)
	out := make([]float64, kmax+1)
	v, w := make([]float64, n), make([]float64, n)
	for range probes {
		rademacher(rng, v)
		copy(w, v)
		for k := 0; k <= kmax; k++ {
			out[k] += dot(v, w) / float64(n) / float64(probes)
			next := make([]float64, n)
			Dense{a}.Apply(next, w)
			w = next
		}
	}
	return out
}

// SLQ's moments: exactly those of its probes up to degree 2·steps − 1 (not beyond), and the
// exact tr(Aᵏ)/n within the probes' statistical error.
func TestSLQMoments(t *testing.T) {
	a := withSpectrum(append(uniform(148, -1, 1), 2.5, -1.8), 21)
	n := a.SymmetricDim()
	const probes, steps = 5, 3
	d, err := SLQ(Dense{a}, probes, steps, 4)
	if err != nil {
		t.Fatal(err)
	}
	if d.Matvecs != probes*steps {
		t.Fatalf("%d matvecs, want %d", d.Matvecs, probes*steps)
	}
	same := sameProbeMoments(a, probes, 2*steps, 4)
	for k := 0; k < 2*steps; k++ {
		if e := math.Abs(d.Moment(k) - same[k]); e > 1e-12*math.Max(1, math.Abs(same[k])) {
			t.Errorf("moment %d: SLQ %.15g, same probes %.15g", k, d.Moment(k), same[k])
		}
	}
	// Degree 2·steps is beyond the rule: this comparison would fail.
	if e := math.Abs(d.Moment(2*steps) - same[2*steps]); e < 1e-6 {
		t.Errorf("moment %d agrees to %g: the quadrature should not be exact there", 2*steps, e)
	}
	// Against the exact moments, with Hutchinson's variance of Aᵏ scaled by 1/n².
	ak := mat.NewSymDense(n, nil)
	for i := range n {
		ak.SetSym(i, i, 1)
	}
	for k := 0; k <= 2; k++ {
		exact := trace(ak) / float64(n)
		sigma := math.Sqrt(2*offDiagFrob2(ak)/probes) / float64(n)
		if math.Abs(d.Moment(k)-exact) > 4*sigma+1e-13 {
			t.Errorf("moment %d: SLQ %.10g, exact %.10g, σ %.2g", k, d.Moment(k), exact, sigma)
		}
		t.Logf("moment %d: SLQ %.6f, exact %.6f, σ %.1e, same probes |Δ| %.1e", k, d.Moment(k), exact, sigma, math.Abs(d.Moment(k)-same[k]))
		var next mat.Dense
		next.Mul(ak, a)
		ak = mat.NewSymDense(n, nil)
		for i := range n {
			for j := i; j < n; j++ {
				ak.SetSym(i, j, (next.At(i, j)+next.At(j, i))/2)
			}
		}
	}
}

// With few distinct eigenvalues the Krylov space is exhausted early: the nodes are the
// eigenvalues and, for a diagonal matrix and Rademacher probes, the weights are exactly
// the eigenvalues' multiplicities over n.
func TestSLQExactSpectrum(t *testing.T) {
	vals := []float64{1, 1, 3, 3, 3, 3, -2, 1}
	a := mat.NewSymDense(len(vals), nil)
	for i, v := range vals {
		a.SetSym(i, i, v)
	}
	d, err := SLQ(Dense{a}, 2, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[float64]float64{-2: 1. / 8, 1: 3. / 8, 3: 4. / 8}
	for p := range d.Nodes {
		if len(d.Nodes[p]) != 3 {
			t.Fatalf("probe %d: %d nodes, want 3", p, len(d.Nodes[p]))
		}
		for i, th := range d.Nodes[p] {
			w, ok := want[math.Round(th)]
			if !ok || math.Abs(th-math.Round(th)) > 1e-12 || math.Abs(d.Weights[p][i]-w) > 1e-12 {
				t.Fatalf("probe %d: node %g weight %g", p, th, d.Weights[p][i])
			}
		}
	}
	if d.Matvecs != 6 {
		t.Fatalf("%d matvecs, want 2 probes × 3 steps", d.Matvecs)
	}
	// The smoothed density integrates to 1.
	grid := uniform(2001, -4, 5)
	phi := d.Smooth(grid, 0.05)
	total := 0.0
	for i := 1; i < len(grid); i++ {
		total += (phi[i] + phi[i-1]) / 2 * (grid[i] - grid[i-1])
	}
	if math.Abs(total-1) > 1e-6 {
		t.Fatalf("smoothed density integrates to %g", total)
	}
}
