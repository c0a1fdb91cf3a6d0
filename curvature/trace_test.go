package curvature

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// offDiagFrob2 returns Σ_{i≠j} A_ij².
func offDiagFrob2(a mat.Symmetric) float64 {
	n := a.SymmetricDim()
	s := 0.0
	for i := range n {
		for j := range n {
			if i != j {
				s += a.At(i, j) * a.At(i, j)
			}
		}
	}
	return s
}

func trace(a mat.Symmetric) float64 {
	s := 0.0
	for i := range a.SymmetricDim() {
		s += a.At(i, i)
	}
	return s
}

// Hutchinson's estimate is within 4 standard deviations √(2 Σ_{i≠j} A_ij² / m) of the trace,
// and its own standard error estimates that deviation.
func TestHutchinson(t *testing.T) {
	a := withSpectrum(uniform(100, -1, 3), 11)
	const m = 300
	est, err := Hutchinson(Dense{a}, m, 5)
	if err != nil {
		t.Fatal(err)
	}
	sigma := math.Sqrt(2 * offDiagFrob2(a) / m)
	tr := trace(a)
	if math.Abs(est.Value-tr) > 4*sigma {
		t.Fatalf("estimate %g, trace %g, σ %g", est.Value, tr, sigma)
	}
	if est.StdErr < sigma/2 || est.StdErr > 2*sigma {
		t.Fatalf("standard error %g, theory %g", est.StdErr, sigma)
	}
	t.Logf("trace %.4f, estimate %.4f (%.2fσ), σ %.4f, stderr %.4f", tr, est.Value, (est.Value-tr)/sigma, sigma, est.StdErr)

	// Rademacher probes see a diagonal matrix exactly (Gaussian ones would not).
	d := mat.NewSymDense(50, nil)
	for i := range 50 {
		d.SetSym(i, i, float64(i)-10.5)
	}
	est, err = Hutchinson(Dense{d}, 1, 9)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(est.Value-trace(d)) > 1e-12 {
		t.Fatalf("diagonal: estimate %g, trace %g", est.Value, trace(d))
	}
}

func TestHutchPP(t *testing.T) {
	// Rank 10 ≤ ⌊33/3⌋: the deflation holds the whole range, the estimate is exact.
	lambda := make([]float64, 120)
	copy(lambda, uniform(10, 1, 20))
	a := withSpectrum(lambda, 12)
	est, err := HutchPP(Dense{a}, 33, 1)
	if err != nil {
		t.Fatal(err)
	}
	if relErr(est.Value, trace(a)) > 1e-10 {
		t.Fatalf("rank 10: Hutch++ %.15g, trace %.15g", est.Value, trace(a))
	}
	if est.Matvecs > 33 {
		t.Fatalf("used %d matvecs, budget 33", est.Matvecs)
	}
	// A decaying spectrum: Hutch++ is within 4 of its standard errors and beats Hutchinson
	// with the same budget, averaged over seeds.
	for i := range lambda {
		lambda[i] = 100 * math.Pow(0.6, float64(i))
	}
	b := withSpectrum(lambda, 13)
	tr := trace(b)
	var errPP, errH float64
	for seed := range uint64(10) {
		pp, err := HutchPP(Dense{b}, 30, seed)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(pp.Value-tr) > 4*pp.StdErr+1e-9*tr {
			t.Fatalf("seed %d: Hutch++ %g, trace %g, stderr %g", seed, pp.Value, tr, pp.StdErr)
		}
		h, _ := Hutchinson(Dense{b}, 30, seed)
		errPP += math.Abs(pp.Value - tr)
		errH += math.Abs(h.Value - tr)
	}
	if errPP > errH/10 {
		t.Fatalf("mean error Hutch++ %g, Hutchinson %g", errPP/10, errH/10)
	}
	t.Logf("decaying spectrum, 30 matvecs: mean error Hutch++ %.2e, Hutchinson %.2e (trace %.1f)", errPP/10, errH/10, tr)
}
