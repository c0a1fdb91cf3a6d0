package curvature

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestLanczosTopFive(t *testing.T) {
	cases := []struct {
		name   string
		lambda []float64
	}{
		// SPD: a bulk in [0.01, 50] below five separated eigenvalues.
		{"spd", append(uniform(195, 0.01, 50), 100, 90, 81, 72, 65)},
		// Indefinite: the largest |λ| is negative and must not be reported as "largest".
		{"indefinite", append(uniform(194, -40, 40), -120, 100, 90, 81, 72, 65)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := withSpectrum(c.lambda, 3)
			want := exactEigen(t, a)
			n := len(want)
			res, err := Lanczos(Dense{a}, LanczosOptions{K: 5, Seed: 1, Vectors: true, MaxIter: 120})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Converged {
				t.Fatalf("not converged after %d steps, residuals %v", res.Iterations, res.Residuals)
			}
			worst := 0.0
			for i, v := range res.Values {
				e := relErr(v, want[n-1-i])
				worst = max(worst, e)
				if e > 1e-8 {
					t.Errorf("λ%d = %.15g, exact %.15g (rel %.1e)", i+1, v, want[n-1-i], e)
				}
				// The reported residual is the true one.
				r := make([]float64, n)
				Dense{a}.Apply(r, res.Vectors[i])
				axpy(-v, res.Vectors[i], r)
				if math.Abs(norm(r)-res.Residuals[i]) > 1e-9*math.Abs(v) {
					t.Errorf("λ%d: residual %g reported, %g true", i+1, res.Residuals[i], norm(r))
				}
			}
			t.Logf("top 5 in %d matvecs, worst relative error %.1e", res.Iterations, worst)

			// The other end, and by magnitude.
			small, err := Lanczos(Dense{a}, LanczosOptions{K: 2, Which: Smallest, Seed: 2, MaxIter: 150})
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(small.Values[0], want[0]); e > 1e-8 {
				t.Errorf("smallest %.15g, exact %.15g", small.Values[0], want[0])
			}
			mag, err := Lanczos(Dense{a}, LanczosOptions{K: 1, Which: LargestMagnitude, Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			wantMag := want[n-1]
			if math.Abs(want[0]) > math.Abs(wantMag) {
				wantMag = want[0]
			}
			if e := relErr(mag.Values[0], wantMag); e > 1e-8 {
				t.Errorf("largest magnitude %.15g, exact %.15g", mag.Values[0], wantMag)
			}
		})
	}
}

// A repeated top eigenvalue is found as often as it occurs, through the restarts after the
// Krylov space of a start vector is exhausted (here after 3 steps: 3 distinct eigenvalues).
func TestLanczosRepeatedEigenvalue(t *testing.T) {
	lambda := []float64{5, 5, 0.5, 5, 2, 2, 0.5, 0.5, 0.5, 0.5}
	a := mat.NewSymDense(len(lambda), nil)
	for i, l := range lambda {
		a.SetSym(i, i, l)
	}
	res, err := Lanczos(Dense{a}, LanczosOptions{K: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{5, 5, 5, 2}
	for i, w := range want {
		if relErr(res.Values[i], w) > 1e-10 {
			t.Fatalf("values %v, want %v", res.Values, want)
		}
	}
}

// Lanczos is reproducible and depends on the seed only through its start vector.
func TestLanczosSeeded(t *testing.T) {
	a := withSpectrum(append(uniform(60, 0, 1), 3), 5)
	r1, _ := Lanczos(Dense{a}, LanczosOptions{K: 1, Seed: 7, MaxIter: 3})
	r2, _ := Lanczos(Dense{a}, LanczosOptions{K: 1, Seed: 7, MaxIter: 3})
	r3, _ := Lanczos(Dense{a}, LanczosOptions{K: 1, Seed: 8, MaxIter: 3})
	if r1.Values[0] != r2.Values[0] {
		t.Fatalf("same seed, different values %v %v", r1.Values, r2.Values)
	}
	if r1.Values[0] == r3.Values[0] {
		t.Fatalf("different seeds gave the same 3-step estimate %v", r1.Values)
	}
	if r1.Converged {
		t.Fatalf("3 steps reported converged")
	}
}

func TestPowerIteration(t *testing.T) {
	a := withSpectrum(append(uniform(99, 0, 5), 10), 6)
	res, err := PowerIteration(Dense{a}, PowerOptions{Seed: 1, Tol: 1e-7})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Converged || relErr(res.Value, 10) > 1e-10 {
		t.Fatalf("power iteration %.15g (converged %v, %d matvecs), want 10", res.Value, res.Converged, res.Iterations)
	}
	t.Logf("λmax to %.1e in %d matvecs", relErr(res.Value, 10), res.Iterations)
	// Largest magnitude, negative.
	b := withSpectrum(append(uniform(99, -5, 5), -10), 6)
	res, err = PowerIteration(Dense{b}, PowerOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if relErr(res.Value, -10) > 1e-8 {
		t.Fatalf("power iteration %.15g, want −10", res.Value)
	}
}

// A failing operator's error reaches the caller.
func TestOperatorFailure(t *testing.T) {
	bad := Func{N: 3, F: func(dst, v []float64) { dst[1] = math.NaN() }}
	if _, err := Lanczos(bad, LanczosOptions{}); err == nil {
		t.Fatal("Lanczos accepted a NaN product")
	}
	if _, err := Hutchinson(bad, 2, 1); err == nil {
		t.Fatal("Hutchinson accepted a NaN product")
	}
}

func TestMatrix(t *testing.T) {
	a := withSpectrum(uniform(7, -1, 2), 9)
	m, err := Matrix(Dense{a})
	if err != nil {
		t.Fatal(err)
	}
	if !mat.EqualApprox(m, a, 1e-14) {
		t.Fatal("Matrix(Dense{a}) differs from a")
	}
}

func BenchmarkLanczosTopEigen(b *testing.B) {
	a := withSpectrum(append(uniform(495, 0, 50), 100, 90, 81, 72, 65), 3)
	for b.Loop() {
		if _, err := Lanczos(Dense{a}, LanczosOptions{K: 5, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// A low-rank operator stops after its rank plus one block, not at MaxIter.
func TestLanczosLowRank(t *testing.T) {
	lambda := make([]float64, 100)
	copy(lambda, []float64{9, 7, 4, 3, 2, 1.5, 1, 0.5})
	a := withSpectrum(lambda, 8)
	res, err := Lanczos(Dense{a}, LanczosOptions{K: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []float64{9, 7, 4} {
		if relErr(res.Values[i], w) > 1e-12 {
			t.Fatalf("values %v", res.Values)
		}
	}
	if res.Iterations > 10 {
		t.Fatalf("%d matvecs for a rank-8 operator", res.Iterations)
	}
}

// A start vector near the top eigenvector converges in fewer steps than a random one, to the
// same value; an exact eigenvector is an invariant space of dimension one. A start vector of
// the wrong length or zero is refused.
func TestLanczosStart(t *testing.T) {
	a := withSpectrum(append(uniform(200, 0, 10), 12, 11.5), 6)
	cold, err := Lanczos(Dense{a}, LanczosOptions{Seed: 1, Vectors: true, MaxIter: 200})
	if err != nil || !cold.Converged {
		t.Fatalf("cold start: %v, converged %v", err, cold.Converged)
	}
	// The top eigenvector, perturbed by 1e-2 in a random direction.
	guess := append([]float64(nil), cold.Vectors[0]...)
	noise := make([]float64, len(guess))
	gaussian(newRNG(3, 99), noise)
	axpy(1e-2/norm(noise), noise, guess)
	warm, err := Lanczos(Dense{a}, LanczosOptions{Seed: 1, Start: guess, MaxIter: 200})
	if err != nil || !warm.Converged {
		t.Fatalf("warm start: %v, converged %v", err, warm.Converged)
	}
	t.Logf("iterations: %d cold, %d warm", cold.Iterations, warm.Iterations)
	if relErr(warm.Values[0], cold.Values[0]) > 1e-10 || warm.Iterations >= cold.Iterations {
		t.Fatalf("warm %v in %d steps, cold %v in %d", warm.Values[0], warm.Iterations, cold.Values[0], cold.Iterations)
	}
	exact, err := Lanczos(Dense{a}, LanczosOptions{Start: cold.Vectors[0]})
	if err != nil || exact.Iterations > 2 {
		t.Fatalf("from the eigenvector itself: %d steps, %v", exact.Iterations, err)
	}
	for _, bad := range [][]float64{make([]float64, 202), make([]float64, 5)} {
		if _, err := Lanczos(Dense{a}, LanczosOptions{Start: bad}); err == nil {
			t.Errorf("start vector of length %d and norm %v accepted", len(bad), norm(bad))
		}
	}
}
