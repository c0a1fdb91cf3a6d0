package analysis

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"
)

// ratCeil returns ⌈p·d⌉ in exact rational arithmetic, p given as a decimal.
func ratCeil(p string, d int) int {
	r, ok := new(big.Rat).SetString(p)
	if !ok {
		panic(p)
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(d)))
	q, m := new(big.Int).DivMod(r.Num(), r.Denom(), new(big.Int))
	k := int(q.Int64())
	if m.Sign() != 0 {
		k++
	}
	return k
}

func TestPIndexMatchesExactCeiling(t *testing.T) {
	for milli := 1; milli <= 1000; milli += 7 {
		p := strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64)
		pf, _ := strconv.ParseFloat(p, 64)
		for d := 1; d <= 1000; d += 13 {
			if got, want := PIndex(pf, d), max(1, ratCeil(p, d)); got != want {
				t.Fatalf("PIndex(%s, %d) = %d, want %d", p, d, got, want)
			}
		}
	}
	// Edges: p = 1 selects the last value, a tiny p the first one.
	for _, d := range []int{1, 2, 785} {
		if got := PIndex(1, d); got != d {
			t.Errorf("PIndex(1, %d) = %d", d, got)
		}
		if got := PIndex(1e-12, d); got != 1 {
			t.Errorf("PIndex(1e-12, %d) = %d", d, got)
		}
	}
	if got := PIndex(0.7, 10); got != 7 {
		t.Errorf("PIndex(0.7, 10) = %d, want 7 (0.7·10 rounds above 7)", got)
	}
}

func TestKappaP(t *testing.T) {
	v := []float64{10, 8, 4, 2, 1}
	m := Compute(NewSpectrum(v), []float64{1e-9, 0.2, 0.5, 0.8, 1})
	for i, want := range []float64{1, 1, 10.0 / 4, 10.0 / 2, 10} {
		if got := m.KappaP[i]; got.Value != want {
			t.Errorf("κ_%v = %v, want %v", got.P, got.Value, want)
		}
	}
	if m.Kappa != 10 || m.LambdaMax != 10 || m.LambdaMin != 1 || m.Dim != 5 {
		t.Errorf("κ, λmax, λmin, d = %v, %v, %v, %v", m.Kappa, m.LambdaMax, m.LambdaMin, m.Dim)
	}
}

func TestZeroEigenvalues(t *testing.T) {
	m := Compute(NewSpectrum([]float64{0, 5, 0, 2, -1e-18}), []float64{0.2, 0.4, 0.6, 1})
	if !math.IsInf(m.Kappa, 1) {
		t.Errorf("κ = %v, want +Inf", m.Kappa)
	}
	// Indices 1, 2, 3, 5: λ = 5, 2, 0, 0.
	for i, want := range []float64{1, 2.5, math.Inf(1), math.Inf(1)} {
		if got := m.KappaP[i].Value; got != want {
			t.Errorf("κ_%v = %v, want %v", m.KappaP[i].P, got, want)
		}
	}
	if m.NumericalRank != 2 || m.Clipped != 1 || m.MinRaw != -1e-18 {
		t.Errorf("rank, clipped, min raw = %d, %d, %g", m.NumericalRank, m.Clipped, m.MinRaw)
	}

	z := Compute(NewSpectrum(make([]float64, 4)), DefaultP())
	if !math.IsInf(z.Kappa, 1) || z.NumericalRank != 0 || z.EffectiveRank != 0 || z.StableRank != 0 || z.Trace != 0 {
		t.Errorf("zero spectrum: %+v", z)
	}
	for i := range z.KappaP {
		if !math.IsInf(z.KappaP[i].Value, 1) || !math.IsInf(z.EnergyKappa[i].Value, 1) {
			t.Errorf("zero spectrum: κ_p %v, energy κ %v, want +Inf", z.KappaP[i], z.EnergyKappa[i])
		}
	}

	e := Compute(Spectrum{}, []float64{0.5})
	if e.Dim != 0 || !math.IsNaN(e.Kappa) || !math.IsNaN(e.KappaP[0].Value) || !math.IsNaN(e.LambdaMax) {
		t.Errorf("empty spectrum: %+v", e)
	}
}

func TestRanks(t *testing.T) {
	for _, d := range []int{1, 3, 100} {
		for _, c := range []float64{1e-30, 1, 7.5e12} {
			v := make([]float64, d)
			for i := range v {
				v[i] = c
			}
			m := Compute(NewSpectrum(v), nil)
			if math.Abs(m.EffectiveRank-float64(d)) > 1e-12*float64(d) {
				t.Errorf("uniform %v×%d: effective rank %v, want %d", c, d, m.EffectiveRank, d)
			}
			if math.Abs(m.StableRank-float64(d)) > 1e-12*float64(d) || m.NumericalRank != d {
				t.Errorf("uniform %v×%d: stable rank %v, numerical rank %d, want %d", c, d, m.StableRank, m.NumericalRank, d)
			}
		}
	}
	m := Compute(NewSpectrum([]float64{3, 1, 0}), nil)
	if want := math.Exp(-(0.75*math.Log(0.75) + 0.25*math.Log(0.25))); math.Abs(m.EffectiveRank-want) > 1e-15 {
		t.Errorf("effective rank of (3, 1, 0) = %v, want %v", m.EffectiveRank, want)
	}
	if m := Compute(NewSpectrum([]float64{4, 2, 2}), nil); m.StableRank != 2 || m.Trace != 8 {
		t.Errorf("stable rank, trace of (4, 2, 2) = %v, %v, want 2, 8", m.StableRank, m.Trace)
	}
	// Threshold d·ε·λ1 = 4·2⁻⁵² ≈ 8.9e-16.
	if m := Compute(NewSpectrum([]float64{1, 1e-10, 1e-15, 1e-17}), nil); m.NumericalRank != 3 {
		t.Errorf("numerical rank = %d, want 3", m.NumericalRank)
	}
}

// energyBrute finds the smallest k with λ1+…+λk ≥ p·Σλ in exact
// arithmetic, for integer eigenvalues and a decimal p.
func energyBrute(v []int64, p string) int {
	pr, _ := new(big.Rat).SetString(p)
	var total int64
	for _, x := range v {
		total += x
	}
	target := new(big.Rat).Mul(pr, new(big.Rat).SetInt64(total))
	var sum int64
	for k, x := range v {
		sum += x
		if new(big.Rat).SetInt64(sum).Cmp(target) >= 0 {
			return k + 1
		}
	}
	return len(v)
}

func TestEnergyKappa(t *testing.T) {
	m := Compute(NewSpectrum([]float64{4, 3, 2, 1}), []float64{0.4, 0.5, 0.9, 1})
	for i, want := range []float64{1, 4.0 / 3, 2, 4} {
		if got := m.EnergyKappa[i]; got.Value != want {
			t.Errorf("energy κ_%v = %v, want %v", got.P, got.Value, want)
		}
	}
	// Sums of 100 hit p·100 exactly where the float product rounds up.
	spectra := [][]int64{{9, 5, 5, 3, 2, 1, 0}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {100, 1}, {7, 6, 5, 4, 3, 2, 1}, {28, 27, 17, 11, 9, 8}}
	for _, v := range spectra {
		f := make([]float64, len(v))
		for i, x := range v {
			f[i] = float64(x)
		}
		for milli := 5; milli <= 1000; milli += 5 {
			p := strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64)
			pf, _ := strconv.ParseFloat(p, 64)
			k := energyBrute(v, p)
			want := ratio(f[0], f[k-1])
			if got := Compute(NewSpectrum(f), []float64{pf}).EnergyKappa[0].Value; got != want {
				t.Fatalf("%v: energy κ_%s = %v, want λ1/λ%d = %v", v, p, got, k, want)
			}
		}
	}
}

// ratio is a/b, +Inf when b is zero.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.Inf(1)
	}
	return a / b
}

// κ, κ_p and the energy κ divide only by eigenvalues above the numerical-rank tolerance
// d·ε·λ1: they are finite exactly when numerical_rank reaches the index they divide by, and
// then equal the plain quotient.
func TestKappaRankAware(t *testing.T) {
	// d = 4: tolerance 4·2⁻⁵²·2 ≈ 1.8e-15.
	m := Compute(NewSpectrum([]float64{2, 1, 1.7e-15, 3e-15}), []float64{0.5, 0.75, 1})
	three := 3e-15
	for i, want := range []float64{2, 2 / three, math.Inf(1)} {
		if got := m.KappaP[i].Value; got != want {
			t.Errorf("κ_%v = %v, want %v", m.KappaP[i].P, got, want)
		}
	}
	if !math.IsInf(m.Kappa, 1) || m.NumericalRank != 3 {
		t.Errorf("κ %v, rank %d; want +Inf, 3", m.Kappa, m.NumericalRank)
	}

	rng := rand.New(rand.NewPCG(5, 5))
	ps := []float64{0.1, 0.3, 0.5, 0.7, 0.9, 1}
	for range 200 {
		d := 1 + rng.IntN(30)
		v := make([]float64, d)
		for i := range v {
			v[i] = math.Pow(10, -20*rng.Float64()) // 1 down to 1e-20: round-off and values alike
		}
		m := Compute(NewSpectrum(v), ps)
		s := NewSpectrum(v).Values
		for i, p := range ps {
			k := PIndex(p, d)
			want := s[0] / s[k-1]
			if m.NumericalRank < k {
				want = math.Inf(1)
			}
			if got := m.KappaP[i].Value; got != want {
				t.Fatalf("%v: κ_%v = %v, want %v (rank %d, k %d)", s, p, got, want, m.NumericalRank, k)
			}
		}
	}
}

// A factor that is singular in exact arithmetic (a duplicated input coordinate) has a round-off
// last eigenvalue: its κ is recorded as +Inf, not as a quotient of 1e15 or more, while κ_p
// within its rank stays the plain quotient.
func TestKappaOfSingularFactor(t *testing.T) {
	const n, d = 300, 6
	rng := rand.New(rand.NewPCG(6, 6))
	x := make([]float64, n*d)
	for r := range n {
		for j := range d - 1 {
			x[r*d+j] = rng.NormFloat64() + float64(j)
		}
		x[r*d+d-1] = x[r*d+d-2] // rank d−1
	}
	mo := NewMoment(d)
	mo.AddRows64(x, n, 1)
	s, err := Eigen(mo.Matrix(FactorOptions{}), GonumEigenvalues)
	if err != nil {
		t.Fatal(err)
	}
	v := s.Values
	if v[d-1] > 1e-12*v[0] {
		t.Fatalf("λ%d = %g of a singular factor (λ1 = %g): not round-off", d, v[d-1], v[0])
	}
	m := Compute(s, []float64{0.5, 5.0 / 6, 1})
	if !math.IsInf(m.Kappa, 1) || !math.IsInf(m.KappaP[2].Value, 1) || m.NumericalRank != d-1 {
		t.Errorf("κ %v, κ_1 %v, rank %d; want +Inf, +Inf, %d (λ = %v)", m.Kappa, m.KappaP[2].Value, m.NumericalRank, d-1, v)
	}
	if m.KappaP[0].Value != v[0]/v[2] || m.KappaP[1].Value != v[0]/v[4] {
		t.Errorf("κ_0.5, κ_5/6 = %v, %v, want %v, %v", m.KappaP[0].Value, m.KappaP[1].Value, v[0]/v[2], v[0]/v[4])
	}
}

func TestValidateP(t *testing.T) {
	for _, ps := range [][]float64{nil, {1}, DefaultP(), {1e-300, 0.5}} {
		if err := ValidateP(ps); err != nil {
			t.Errorf("ValidateP(%v) = %v", ps, err)
		}
	}
	for _, ps := range [][]float64{{0}, {-0.5}, {1.5}, {0.5, math.NaN()}, {math.Inf(1)}, {0.2, 0.5, 0.2}} {
		if err := ValidateP(ps); err == nil {
			t.Errorf("ValidateP(%v) accepted", ps)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Compute accepted p = 2")
		}
	}()
	Compute(NewSpectrum([]float64{1}), []float64{2})
}

// Heavy-ball gradient descent on f(x) = λx²/2 must converge below the
// threshold ratio 1 and diverge above it.
func TestStabilityRatio(t *testing.T) {
	run := func(lr, mu, lambda float64) float64 {
		x, prev := 1.0, 1.0
		for range 2000 {
			x, prev = x-lr*lambda*x+mu*(x-prev), x
			if math.Abs(x) > 1e10 {
				break
			}
		}
		return math.Abs(x)
	}
	for _, mu := range []float64{0, 0.5, 0.9} {
		for _, lambda := range []float64{0.3, 38, 1e4} {
			crit := 2 * (1 + mu) / lambda
			if r := StabilityRatio(crit, mu, lambda); math.Abs(r-1) > 1e-15 {
				t.Errorf("μ=%v λ=%v: ratio at the critical rate = %v, want 1", mu, lambda, r)
			}
			if lr := 0.95 * crit; run(lr, mu, lambda) > 1e-6 || StabilityRatio(lr, mu, lambda) >= 1 {
				t.Errorf("μ=%v λ=%v: rate %v should be stable with ratio < 1", mu, lambda, lr)
			}
			if lr := 1.05 * crit; run(lr, mu, lambda) < 1e6 || StabilityRatio(lr, mu, lambda) <= 1 {
				t.Errorf("μ=%v λ=%v: rate %v should diverge with ratio > 1", mu, lambda, lr)
			}
		}
	}
}
