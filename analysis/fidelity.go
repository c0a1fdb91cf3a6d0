package analysis

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Fidelity measures how well K-FAC's Kronecker product A⊗B approximates
// the exact empirical Fisher block F of a linear layer on one batch.
//
// For a layer h = W x (W: m×d), sample i contributes the weight gradient
// gᵢ xᵢᵀ, with gᵢ = ∂ℓᵢ/∂hᵢ. Its vectorisation is vᵢ = xᵢ ⊗ gᵢ: entry
// a·m + c holds x_a·g_c (this is vec(gᵢ xᵢᵀ) stacking the columns of
// the m×d gradient), which puts the blocks of F in the index order of
// Σx ⊗ Σ∇h. Then
//
//	F = (1/N) Σᵢ vᵢ vᵢᵀ = (1/N) Σᵢ (xᵢxᵢᵀ) ⊗ (gᵢgᵢᵀ),  A = (1/N) XᵀX,  B = (1/N) GᵀG.
//
// F − A⊗B is the cross-covariance of the random matrices x xᵀ and g gᵀ
// over the batch, rearranged; it vanishes when the two are uncorrelated
// under the empirical distribution, for example when the batch is a full
// factorial design of x and g values.
type Fidelity struct {
	// Params is d·m, the dimension of F.
	Params int
	// Exact is the spectrum of F: d·m values, of which at most N are
	// non-zero.
	Exact Spectrum
	// RelFrobenius is ‖F − A⊗B‖_F / ‖F‖_F.
	RelFrobenius float64
	// LambdaMaxRatio is λmax(A⊗B) / λmax(F).
	LambdaMaxRatio float64
	// KappaPRatio holds κ_p(A⊗B) / κ_p(F) for each p.
	KappaPRatio []PValue
	// ExactMetrics are the metrics of Exact.
	ExactMetrics Metrics
}

// KFACFidelity compares the exact empirical Fisher block F of a linear
// layer with its K-FAC approximation A⊗B (see [Fidelity] for the
// definitions). x holds the N layer inputs and g the N per-sample output
// gradients, row-major N×d and N×m (with a mean-reduced loss, scale the
// autodiff gradients by N). κ_p is evaluated at each p of ps. solver
// computes eigenvalues; nil selects DefaultSolver.
//
// Ratios follow IEEE arithmetic: a ratio of two infinite condition
// numbers (both matrices singular at that p) is NaN, and so is 0/0.
//
// F is d·m × d·m, which is too large to form for most layers, but its
// rank is at most N. With V = [v₁ … v_N], F = (1/N) V Vᵀ has the same
// non-zero eigenvalues as the N×N matrix (1/N) VᵀV, whose entries are
// (xᵢ·xⱼ)(gᵢ·gⱼ): the Hadamard product of the Gram matrices of the
// inputs and of the gradients, divided by N. Its other d·m − N
// eigenvalues are exactly zero. The same holds for A and B when d or m
// exceeds N. The Frobenius error needs only the Gram matrices too:
// with Pᵢ = xᵢxᵢᵀ − A and Qᵢ = gᵢgᵢᵀ − B, F − A⊗B = (1/N) Σᵢ Pᵢ ⊗ Qᵢ, so
//
//	‖F − A⊗B‖² = (1/N²) Σᵢⱼ ⟨Pᵢ, Pⱼ⟩⟨Qᵢ, Qⱼ⟩,  ⟨Pᵢ, Pⱼ⟩ = (xᵢ·xⱼ)² − rᵢ − rⱼ + s,
//
// where rᵢ = (1/N) Σₖ (xᵢ·xₖ)² and s is the mean of the rᵢ (a doubly
// centred Gram matrix of squared inner products), and likewise for Q.
// KFACFidelity therefore works with N×N matrices when d·m > N, and with
// F itself otherwise: time O(N·min(d·m, N)·(d + m + min(d·m, N))) and
// memory O(min(d·m, N)²) besides the d·m values of the spectra. When it
// works with N×N matrices the relative error is computed as a difference
// of sums, which limits its accuracy to about 1e-8.
func KFACFidelity(x, g []float64, n, d, m int, ps []float64, solver EigenSolver) (Fidelity, error) {
	if err := checkFidelityArgs(x, g, n, d, m, ps); err != nil {
		return Fidelity{}, err
	}
	return kfacFidelity(x, g, n, d, m, ps, solver, d*m <= n)
}

func checkFidelityArgs(x, g []float64, n, d, m int, ps []float64) error {
	if n < 1 || d < 1 || m < 1 {
		return fmt.Errorf("analysis: KFACFidelity sizes N=%d, d=%d, m=%d, want each at least 1", n, d, m)
	}
	if d > math.MaxInt/m || len(x) != n*d || len(g) != n*m {
		return fmt.Errorf("analysis: KFACFidelity got %d inputs and %d gradients, want N·d = %d·%d and N·m = %d·%d", len(x), len(g), n, d, n, m)
	}
	for _, a := range []struct {
		name string
		v    []float64
		dim  int
	}{{"x", x, d}, {"g", g, m}} {
		for i, v := range a.v {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("analysis: KFACFidelity %s[%d] = %v (sample %d, column %d) is not finite", a.name, i, v, i/a.dim, i%a.dim)
			}
		}
	}
	return ValidateP(ps)
}

// kfacFidelity computes the fidelity from F itself when primal is set,
// and from N×N Gram matrices otherwise. Both are valid for any sizes.
func kfacFidelity(x, g []float64, n, d, m int, ps []float64, solver EigenSolver, primal bool) (Fidelity, error) {
	var kx, kg *mat.SymDense // Gram matrices X Xᵀ and G Gᵀ, when needed
	if !primal || d > n {
		kx = gram(x, n, d)
	}
	if !primal || m > n {
		kg = gram(g, n, m)
	}
	sa, err := factorSpectrum(x, n, d, kx, solver)
	if err != nil {
		return Fidelity{}, err
	}
	sb, err := factorSpectrum(g, n, m, kg, solver)
	if err != nil {
		return Fidelity{}, err
	}

	f := Fidelity{Params: d * m}
	if primal {
		err = f.primal(x, g, n, d, m, solver)
	} else {
		err = f.dual(kx, kg, d*m, solver)
	}
	if err != nil {
		return Fidelity{}, err
	}

	f.ExactMetrics = Compute(f.Exact, ps)
	kfac := Compute(KroneckerSpectrum(sa, sb), ps)
	f.LambdaMaxRatio = kfac.LambdaMax / f.ExactMetrics.LambdaMax
	f.KappaPRatio = make([]PValue, len(ps))
	for i, p := range ps {
		f.KappaPRatio[i] = PValue{p, kfac.KappaP[i].Value / f.ExactMetrics.KappaP[i].Value}
	}
	return f, nil
}

// gram returns the upper triangle of Y Yᵀ for the row-major n×dim
// matrix y.
func gram(y []float64, n, dim int) *mat.SymDense {
	var k mat.SymDense
	k.SymOuterK(1, mat.NewDense(n, dim, y))
	return &k
}

// factorSpectrum returns the spectrum of (1/N) YᵀY (dim×dim), from the
// Gram matrix k = Y Yᵀ if it is given and from YᵀY otherwise.
func factorSpectrum(y []float64, n, dim int, k *mat.SymDense, solver EigenSolver) (Spectrum, error) {
	if k != nil {
		s := mat.NewSymDense(n, nil)
		s.ScaleSym(1/float64(n), k)
		return dualSpectrum(s, dim, solver)
	}
	mom := NewMoment(dim)
	mom.AddRows64(y, n, 1)
	return Eigen(mom.Matrix(FactorOptions{}), solver)
}

// dualSpectrum returns the spectrum of a dim×dim matrix (1/N) V Vᵀ given
// its N×N counterpart k = (1/N) VᵀV. The non-zero eigenvalues of the two
// coincide; the others are zero, so the spectrum of k is padded with
// zeros when dim > N and loses its N − dim smallest values otherwise.
func dualSpectrum(k *mat.SymDense, dim int, solver EigenSolver) (Spectrum, error) {
	s, err := Eigen(k, solver)
	if err != nil {
		return Spectrum{}, err
	}
	n := len(s.Values)
	if dim < n {
		drop := n - dim
		s.Values = s.Values[:dim]
		s.Clipped = max(0, s.Clipped-drop)
		return s, nil
	}
	s.Values = append(s.Values, make([]float64, dim-n)...)
	if dim > n {
		s.MinRaw = min(s.MinRaw, 0)
	}
	return s, nil
}

// primal forms F and A⊗B explicitly (d·m × d·m).
func (f *Fidelity) primal(x, g []float64, n, d, m int, solver EigenSolver) error {
	p := d * m
	mf := NewMoment(p)
	rows := max(1, min(n, maxChunk/p))
	v := make([]float64, rows*p)
	for r0 := 0; r0 < n; r0 += rows {
		k := min(rows, n-r0)
		for i := range k {
			xi := x[(r0+i)*d : (r0+i+1)*d]
			gi := g[(r0+i)*m : (r0+i+1)*m]
			vi := v[i*p : (i+1)*p]
			for a, xa := range xi {
				for c, gc := range gi {
					vi[a*m+c] = xa * gc
				}
			}
		}
		mf.AddRows64(v[:k*p], k, 1)
	}
	mx, mg := NewMoment(d), NewMoment(m)
	mx.AddRows64(x, n, 1)
	mg.AddRows64(g, n, 1)
	fsym := mf.Matrix(FactorOptions{})
	fm := fsym.RawSymmetric()
	am := mx.Matrix(FactorOptions{}).RawSymmetric()
	bm := mg.Matrix(FactorOptions{}).RawSymmetric()

	var ff, dd float64
	for a := range d {
		for c := range m {
			row := fm.Data[(a*m+c)*fm.Stride:]
			for b := range d {
				ab := am.Data[a*am.Stride+b]
				for e := range m {
					fv := row[b*m+e]
					diff := fv - ab*bm.Data[c*bm.Stride+e]
					ff += fv * fv
					dd += diff * diff
				}
			}
		}
	}
	f.RelFrobenius = math.Sqrt(dd) / math.Sqrt(ff)

	var err error
	f.Exact, err = Eigen(fsym, solver)
	return err
}

// dual works with the N×N Gram matrices kx = X Xᵀ and kg = G Gᵀ (upper
// triangles); it overwrites kx.
func (f *Fidelity) dual(kx, kg *mat.SymDense, p int, solver EigenSolver) error {
	n := kx.SymmetricDim()
	x, g := kx.RawSymmetric(), kg.RawSymmetric()
	at := func(r []float64, stride, i, j int) float64 {
		if i > j {
			i, j = j, i
		}
		return r[i*stride+j]
	}
	// Row means of the squared Gram matrices and their means.
	rx, rg := make([]float64, n), make([]float64, n)
	for i := range n {
		for j := range n {
			a, b := at(x.Data, x.Stride, i, j), at(g.Data, g.Stride, i, j)
			rx[i] += a * a
			rg[i] += b * b
		}
	}
	var sx, sg float64
	for i := range n {
		rx[i] /= float64(n)
		rg[i] /= float64(n)
		sx += rx[i]
		sg += rg[i]
	}
	sx /= float64(n)
	sg /= float64(n)

	// Sums over the upper triangle, off-diagonal terms counted twice.
	var ff, dd float64
	for i := range n {
		for j := i; j < n; j++ {
			a, b := x.Data[i*x.Stride+j], g.Data[i*g.Stride+j]
			a2, b2 := a*a, b*b
			w := 2.0
			if i == j {
				w = 1
			}
			ff += w * a2 * b2
			dd += w * (a2 - rx[i] - rx[j] + sx) * (b2 - rg[i] - rg[j] + sg)
		}
	}
	// Rounding can make the (mathematically non-negative) dd negative.
	f.RelFrobenius = math.Sqrt(max(dd, 0)) / math.Sqrt(ff)

	// (1/N) Kx∘Kg, in place.
	for i := range n {
		for j := i; j < n; j++ {
			x.Data[i*x.Stride+j] *= g.Data[i*g.Stride+j] / float64(n)
		}
	}
	var err error
	f.Exact, err = dualSpectrum(kx, p, solver)
	return err
}

// Record keys of a Fidelity.
const (
	keyParams         = "params"
	keyRelFrobenius   = "rel_frobenius"
	keyLambdaMaxRatio = "lambda_max_ratio"
	keyKappaRatioP    = "kappa_ratio_p"
	prefixExact       = "exact_"
)

// Record returns f as an ordered record with the keys params,
// rel_frobenius, lambda_max_ratio, kappa_ratio_p<p>… and the keys of
// [Metrics.Record] for the exact block, prefixed with "exact_". The
// spectrum itself is not included.
func (f Fidelity) Record() Record {
	r := Record{
		{keyParams, f.Params},
		{keyRelFrobenius, Float(f.RelFrobenius)},
		{keyLambdaMaxRatio, Float(f.LambdaMaxRatio)},
	}
	for _, pv := range f.KappaPRatio {
		r = append(r, Field{PKey(keyKappaRatioP, pv.P), Float(pv.Value)})
	}
	for _, fl := range f.ExactMetrics.Record() {
		r = append(r, Field{prefixExact + fl.Key, fl.Value})
	}
	return r
}

// MarshalJSON writes f as the JSON object of [Fidelity.Record].
func (f Fidelity) MarshalJSON() ([]byte, error) {
	return f.Record().MarshalJSON()
}
