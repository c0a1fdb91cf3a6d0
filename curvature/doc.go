// Package curvature estimates spectra and traces of large symmetric matrices that are only
// available as matrix-vector products: the Hessian, generalised Gauss-Newton and empirical
// Fisher of a network (package curvature/netcurv builds those operators).
//
// Everything works on an [Operator] in float64 and is reproducible: the random start and probe
// vectors come from a PCG generator seeded by the caller.
//
//   - [Lanczos]: the k largest (or smallest) eigenvalues, Lanczos with full
//     reorthogonalisation, stopped when every wanted Ritz pair has a residual
//     ‖A y − θ y‖ ≤ Tol·‖T‖.
//   - [PowerIteration]: the eigenvalue of largest magnitude, the cheap option.
//   - [Hutchinson] and [HutchPP]: tr(A) from Rademacher probes.
//   - [SLQ]: stochastic Lanczos quadrature, the spectral density as nodes and weights.
//
// Cost is counted in matrix-vector products (matvecs), the only expensive operation for a
// network operator: Lanczos and SLQ hold their Krylov basis, steps × Dim() float64 values.
package curvature
