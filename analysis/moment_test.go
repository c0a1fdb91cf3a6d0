package analysis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randomRows returns rows×dim values, about a fraction zeros of them zero,
// the others offset + N(0, 1).
func randomRows(rng *rand.Rand, rows, dim int, zeros, offset float64) []float64 {
	x := make([]float64, rows*dim)
	for i := range x {
		if rng.Float64() >= zeros {
			x[i] = offset + rng.NormFloat64()
		}
	}
	return x
}

func to32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// bruteMoment computes the estimate of opts from its definition, with a
// two-pass mean for the centered case.
func bruteMoment(x []float64, rows, dim int, scale float64, opts FactorOptions) [][]float64 {
	xs := make([][]float64, rows)
	for r := range rows {
		xs[r] = make([]float64, dim)
		for j := range dim {
			xs[r][j] = scale * x[r*dim+j]
		}
		if opts.AppendOne {
			xs[r] = append(xs[r], 1)
		}
	}
	d := len(xs[0])
	mu := make([]float64, d)
	if opts.Centered {
		for _, row := range xs {
			for j, v := range row {
				mu[j] += v / float64(rows)
			}
		}
	}
	out := make([][]float64, d)
	for i := range d {
		out[i] = make([]float64, d)
		for j := range d {
			var s float64
			for _, row := range xs {
				s += (row[i] - mu[i]) * (row[j] - mu[j])
			}
			out[i][j] = s / float64(rows)
		}
	}
	return out
}

// maxDiff returns the largest |a_ij - b_ij| and the largest |b_ij|.
func maxDiff(a *mat.SymDense, b [][]float64) (diff, scale float64) {
	if a.SymmetricDim() != len(b) {
		panic(fmt.Sprintf("dimension %d vs %d", a.SymmetricDim(), len(b)))
	}
	for i := range b {
		for j := range b {
			diff = max(diff, math.Abs(a.At(i, j)-b[i][j]))
			scale = max(scale, math.Abs(b[i][j]))
		}
	}
	return diff, scale
}

func TestMomentMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	optsList := []FactorOptions{{}, {Centered: true}, {AppendOne: true}}
	for _, tc := range []struct {
		rows, dim      int
		zeros, offset  float64
		scale          float64
		f32, autoShift bool
	}{
		{rows: 1, dim: 1, scale: 1},
		{rows: 7, dim: 5, scale: 1},
		{rows: 7, dim: 5, scale: 2.5, f32: true},
		{rows: 3, dim: 9, zeros: 0.5, scale: -0.75},
		{rows: 20, dim: 6, zeros: 0.3, offset: 3, scale: 128, f32: true},
		{rows: 20, dim: 6, zeros: 0.3, offset: 3, scale: 1, autoShift: true},
		{rows: 11, dim: 13, zeros: 0.2, offset: -2, scale: 0.5, f32: true, autoShift: true},
	} {
		x := randomRows(rng, tc.rows, tc.dim, tc.zeros, tc.offset)
		m := NewMoment(tc.dim)
		m.SetAutoShift(tc.autoShift)
		if tc.f32 {
			x32 := to32(x)
			x = to64(x32) // the reference sees the values actually added
			m.AddRows32(x32, tc.rows, tc.scale)
		} else {
			m.AddRows64(x, tc.rows, tc.scale)
		}
		if m.Count() != tc.rows || m.Dim() != tc.dim {
			t.Fatalf("%+v: Count, Dim = %d, %d", tc, m.Count(), m.Dim())
		}
		for _, opts := range optsList {
			want := bruteMoment(x, tc.rows, tc.dim, tc.scale, opts)
			diff, scale := maxDiff(m.Matrix(opts), want)
			if diff > 1e-13*scale {
				t.Errorf("%+v %+v: max difference %g from brute force (scale %g)", tc, opts, diff, scale)
			}
		}
		mu := m.Mean(nil)
		for j := range tc.dim {
			var s float64
			for r := range tc.rows {
				s += tc.scale * x[r*tc.dim+j]
			}
			if want := s / float64(tc.rows); math.Abs(mu[j]-want) > 1e-13*(1+math.Abs(want)) {
				t.Errorf("%+v: mean[%d] = %v, want %v", tc, j, mu[j], want)
			}
		}
	}
}

// Rows added in several calls must give what one call on the
// concatenation gives: bit for bit when unshifted (every entry sees the
// same additions in the same order), to round-off when shifted (the shift
// comes from the first call).
func TestMomentSplitBatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const rows, dim = 40, 17
	x := randomRows(rng, rows, dim, 0.4, 1)
	x32 := to32(x)
	for _, autoShift := range []bool{false, true} {
		whole := NewMoment(dim)
		whole.SetAutoShift(autoShift)
		whole.AddRows32(x32, rows, 3)
		parts := NewMoment(dim)
		parts.SetAutoShift(autoShift)
		start := 0
		for _, n := range []int{1, 0, 12, 5, 22} {
			parts.AddRows32(x32[start*dim:(start+n)*dim], n, 3)
			start += n
		}
		if start != rows || parts.Count() != rows {
			t.Fatalf("split covers %d rows, Count %d, want %d", start, parts.Count(), rows)
		}
		for _, opts := range []FactorOptions{{}, {Centered: true}, {AppendOne: true}} {
			a, b := whole.Matrix(opts), parts.Matrix(opts)
			if !autoShift {
				if !slices.Equal(a.RawSymmetric().Data, b.RawSymmetric().Data) {
					t.Errorf("unshifted %+v: split batches differ from one batch", opts)
				}
				continue
			}
			if !mat.EqualApprox(a, b, 1e-12) {
				t.Errorf("shifted %+v: split batches differ from one batch beyond round-off", opts)
			}
		}
	}
}

func TestMoment32Matches64(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const rows, dim = 9, 12
	x32 := to32(randomRows(rng, rows, dim, 0.3, 0.5))
	x64 := to64(x32)
	for _, scale := range []float64{1, 3.5, 128} {
		for _, autoShift := range []bool{false, true} {
			a, b := NewMoment(dim), NewMoment(dim)
			a.SetAutoShift(autoShift)
			b.SetAutoShift(autoShift)
			a.AddRows32(x32, rows, scale)
			b.AddRows64(x64, rows, scale)
			for _, opts := range []FactorOptions{{}, {Centered: true}, {AppendOne: true}} {
				if !slices.Equal(a.Matrix(opts).RawSymmetric().Data, b.Matrix(opts).RawSymmetric().Data) {
					t.Errorf("scale %v shift %v %+v: float32 and float64 paths differ", scale, autoShift, opts)
				}
			}
		}
	}
	// The float64 path must not modify its input, even when it scales and
	// shifts.
	keep := slices.Clone(x64)
	m := NewMoment(dim)
	m.SetAutoShift(true)
	m.AddRows64(x64, rows, 2)
	if !slices.Equal(keep, x64) {
		t.Error("AddRows64 modified its input")
	}
}

// The band split over goroutines must not change a single bit, and must
// cover the whole triangle whatever the worker count.
func TestRankKWorkers(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, d := range []int{1, 2, 5, 31} {
		const k = 6
		a := randomRows(rng, k, d, 0.2, 0)
		ref := make([]float64, d*d)
		for i := range d {
			for j := i; j < d; j++ {
				for l := range k {
					ref[i*d+j] += a[l*d+i] * a[l*d+j]
				}
			}
		}
		var first []float64
		for _, w := range []int{1, 2, 3, 7, 40} {
			c := make([]float64, d*d)
			rankKUpper(c, a, k, d, w)
			if first == nil {
				first = c
			} else if !slices.Equal(first, c) {
				t.Errorf("d=%d: %d workers differ from 1 worker", d, w)
			}
			for i := range d {
				for j := i; j < d; j++ {
					if math.Abs(c[i*d+j]-ref[i*d+j]) > 1e-12*(1+math.Abs(ref[i*d+j])) {
						t.Fatalf("d=%d workers=%d: c[%d,%d] = %v, want %v", d, w, i, j, c[i*d+j], ref[i*d+j])
					}
				}
			}
		}
	}
}

func TestMomentReset(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const dim = 8
	a, b := randomRows(rng, 5, dim, 0, 2), randomRows(rng, 6, dim, 0, -1)
	for _, autoShift := range []bool{false, true} {
		m := NewMoment(dim)
		m.SetAutoShift(autoShift)
		m.AddRows64(a, 5, 1)
		m.Reset()
		if m.Count() != 0 {
			t.Fatalf("Count after Reset = %d", m.Count())
		}
		m.AddRows64(b, 6, 1)
		fresh := NewMoment(dim)
		fresh.SetAutoShift(autoShift)
		fresh.AddRows64(b, 6, 1)
		for _, opts := range []FactorOptions{{}, {Centered: true}} {
			if !slices.Equal(m.Matrix(opts).RawSymmetric().Data, fresh.Matrix(opts).RawSymmetric().Data) {
				t.Errorf("shift %v %+v: Reset then add differs from a fresh Moment", autoShift, opts)
			}
		}
	}
}

// The shifted accumulation keeps the covariance accurate when the mean
// dominates the spread, where the plain one loses digits to cancellation.
func TestMomentShiftAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	const rows, dim = 50, 6
	x := randomRows(rng, rows, dim, 0, 1e4)
	want := bruteMoment(x, rows, dim, 1, FactorOptions{Centered: true})
	errs := map[bool]float64{}
	for _, autoShift := range []bool{false, true} {
		m := NewMoment(dim)
		m.SetAutoShift(autoShift)
		m.AddRows64(x[:10*dim], 10, 1)
		m.AddRows64(x[10*dim:], rows-10, 1)
		errs[autoShift], _ = maxDiff(m.Matrix(FactorOptions{Centered: true}), want)
	}
	if errs[true] > 1e-11 {
		t.Errorf("shifted covariance error %g, want below 1e-11", errs[true])
	}
	if errs[false] < 100*errs[true] {
		t.Errorf("plain covariance error %g not clearly above the shifted one %g: the test data no longer shows cancellation", errs[false], errs[true])
	}
}

// A batch of N samples gives at most N non-zero eigenvalues (N-1 when
// centered), and random data reaches that bound.
func TestMomentRankAtMostN(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const n, d = 10, 30
	x := randomRows(rng, n, d, 0, 5)
	m := NewMoment(d)
	m.SetAutoShift(true)
	m.AddRows32(to32(x), n, 1)
	for _, tc := range []struct {
		opts FactorOptions
		want int
	}{
		{FactorOptions{}, n},
		{FactorOptions{Centered: true}, n - 1},
		{FactorOptions{AppendOne: true}, n},
	} {
		s, err := Eigen(m.Matrix(tc.opts), nil)
		if err != nil {
			t.Fatal(err)
		}
		met := Compute(s, DefaultP())
		if met.NumericalRank != tc.want {
			t.Errorf("%+v: numerical rank %d, want %d (min(N, d) = %d)", tc.opts, met.NumericalRank, tc.want, min(n, d))
		}
		if !math.IsInf(met.Kappa, 1) && met.Kappa < 1e12 {
			t.Errorf("%+v: κ = %g for a rank-deficient factor, want huge or +Inf", tc.opts, met.Kappa)
		}
	}
}

func TestMomentPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"zero dim":      func() { NewMoment(0) },
		"short data":    func() { NewMoment(3).AddRows64(make([]float64, 5), 2, 1) },
		"long data":     func() { NewMoment(3).AddRows32(make([]float32, 7), 2, 1) },
		"negative rows": func() { NewMoment(3).AddRows64(nil, -1, 1) },
		"empty matrix":  func() { NewMoment(3).Matrix(FactorOptions{}) },
		"empty mean":    func() { NewMoment(3).Mean(nil) },
		"bad options": func() {
			m := NewMoment(1)
			m.AddRows64([]float64{1}, 1, 1)
			m.Matrix(FactorOptions{Centered: true, AppendOne: true})
		},
		"late shift": func() {
			m := NewMoment(1)
			m.AddRows64([]float64{1}, 1, 1)
			m.SetAutoShift(true)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	if err := (FactorOptions{Centered: true, AppendOne: true}).Validate(); err == nil {
		t.Error("Validate accepted Centered with AppendOne")
	}
	for _, o := range []FactorOptions{{}, {Centered: true}, {AppendOne: true}} {
		if err := o.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", o, err)
		}
	}
}

// Moment updates its second moment through DefaultRankK, the capability a program installs
// (a native BLAS), and gives the same matrix as with the pure-Go update.
func TestMomentUsesInstalledRankK(t *testing.T) {
	defer func(old RankKUpdate) { DefaultRankK = old }(DefaultRankK)
	rows := []float64{1, 2, 3, 4, 5, 6}
	DefaultRankK = ParallelRankK
	want := NewMoment(3)
	want.AddRows64(rows, 2, 1)
	calls := 0
	DefaultRankK = func(c, a []float64, k, d int) { calls++; ParallelRankK(c, a, k, d) }
	got := NewMoment(3)
	got.AddRows64(rows, 2, 1)
	if calls == 0 {
		t.Fatal("the installed update was not called")
	}
	if !mat.EqualApprox(got.Matrix(FactorOptions{}), want.Matrix(FactorOptions{}), 0) {
		t.Error("the installed update changed the moment")
	}
}
