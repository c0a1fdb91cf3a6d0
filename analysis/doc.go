// Package analysis turns captured layer matrices into Kronecker factors,
// eigenvalue spectra and conditioning metrics.
//
// A weighted layer h = W x has a Fisher block that K-FAC approximates by
// the Kronecker product Σx ⊗ Σ∇h of two second-moment matrices. A [Moment]
// accumulates either factor from row-major batches in float64, [Eigen]
// turns a factor into a sorted, non-negative [Spectrum],
// [KroneckerSpectrum] combines the spectra of two factors into the
// spectrum of their product, and [Compute] derives the [Metrics] (λmax,
// κ, κ_p, ranks, …) that are stored as JSON through [Metrics.Record].
//
// The package only depends on gonum; it knows nothing about layers or
// autodiff. Typical use, for a batch x (N×d) of layer inputs and the
// matching output gradients g (N×m) of a mean-reduced loss:
//
//	sx := analysis.NewMoment(d)
//	sx.AddRows32(x, N, 1)
//	sg := analysis.NewMoment(m)
//	sg.AddRows32(g, N, float64(N)) // undo the 1/N of the mean reduction
//
//	opts := analysis.FactorOptions{}
//	ex, err := analysis.Eigen(sx.Matrix(opts), nil)
//	if err != nil { ... }
//	eg, err := analysis.Eigen(sg.Matrix(opts), nil)
//	if err != nil { ... }
//	ps := analysis.DefaultP()
//	fisher := analysis.Compute(analysis.KroneckerSpectrum(ex, eg), ps)
//	b, err := json.Marshal(fisher) // {"dim":…,"lambda_max":…,"kappa":"+Inf",…}
//
// Conventions: eigenvalues are sorted in descending order, λ1 ≥ … ≥ λd ≥ 0,
// with round-off negatives clipped to zero and counted. A ratio whose
// denominator is zero, or not above the numerical-rank tolerance d·ε·λ1
// (round-off), is +Inf, so a singular factor has κ = +Inf and no
// metric panics or returns NaN for a finite, non-empty spectrum.
package analysis
