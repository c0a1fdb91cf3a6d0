package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The Gram route gives the spectrum of the d×d factor that Moment forms, with every estimator
// option, for float32 and float64 rows: the non-zero eigenvalues of YᵀY/n and YYᵀ/n agree and
// the rest are zero.
func TestGramSpectrumMatchesFactor(t *testing.T) {
	const n, d, scale = 7, 12, 2.5
	rng := rand.New(rand.NewPCG(5, 6))
	x64 := make([]float64, n*d)
	x32 := make([]float32, n*d)
	for i := range x64 {
		// A large common offset in some coordinates makes centering matter.
		v := rng.NormFloat64() + float64(i%d%3)*4
		x32[i] = float32(v)
		x64[i] = float64(x32[i])
	}
	for _, opts := range []FactorOptions{{}, {Centered: true}, {AppendOne: true}} {
		m := NewMoment(d)
		m.AddRows64(x64, n, scale)
		want, err := Eigen(m.Matrix(opts), GonumEigenvalues)
		if err != nil {
			t.Fatal(err)
		}
		dim := FactorDim(d, opts)
		if want.Len() != dim {
			t.Fatalf("%+v: factor of dimension %d, want %d", opts, want.Len(), dim)
		}
		for _, name := range []string{"float64", "float32"} {
			var gram Spectrum
			if name == "float64" {
				gram, err = Eigen(Gram(x64, n, d, scale, opts), GonumEigenvalues)
			} else {
				gram, err = Eigen(Gram(x32, n, d, scale, opts), GonumEigenvalues)
			}
			if err != nil {
				t.Fatal(err)
			}
			if gram.Len() != n {
				t.Fatalf("%+v %s: Gram spectrum of %d values, want %d", opts, name, gram.Len(), n)
			}
			got := gram.Pad(dim)
			tol := 1e-12 * want.Values[0]
			for i := range want.Values {
				if math.Abs(got.Values[i]-want.Values[i]) > tol {
					t.Fatalf("%+v %s: λ%d = %v, d×d factor %v", opts, name, i+1, got.Values[i], want.Values[i])
				}
			}
			// Centering leaves rank ≤ n−1: one of the Gram eigenvalues is (numerically) zero.
			if opts.Centered && got.Values[n-1] > tol {
				t.Fatalf("centered: λ%d = %v, want ≈ 0", n, got.Values[n-1])
			}
		}
	}
}

func TestSpectrumPad(t *testing.T) {
	s := NewSpectrum([]float64{3, -1e-17, 1})
	p := s.Pad(5)
	if p.Len() != 5 || p.Values[0] != 3 || p.Values[1] != 1 || p.Values[4] != 0 || p.Clipped != 1 || p.MinRaw != -1e-17 {
		t.Fatalf("Pad: %+v", p)
	}
	if s.Len() != 3 {
		t.Fatal("Pad changed its receiver")
	}
	if q := NewSpectrum([]float64{2, 1}).Pad(3); q.MinRaw != 0 {
		t.Fatalf("Pad: MinRaw %v, want 0 (the padding)", q.MinRaw)
	}
}
