// Package compare reads run directories and puts them side by side: tables of λmax and κ_p of
// every layer and factor at aligned steps, figures (training curves, conditioning over
// training, depth profiles, eigenvalue spectra), diagnostics, and one self-contained HTML
// report. It reads only what runs wrote to disk, in the format package rundir defines, and
// does not link the training code.
//
//	runs, warnings, err := compare.Discover("runs/mnist_bn_vs_plain_lr") // a sweep, or run dirs
//	if err != nil {
//		log.Fatal(err)
//	}
//	rep, err := compare.Compare(runs, compare.Options{}) // align by step, κ_0.5, min–max bands
//	if err != nil {
//		log.Fatal(err)
//	}
//	err = rep.Write("runs/mnist_bn_vs_plain_lr/compare") // report.html, tables.md, tables/, figures/
//
// Runs whose config.yaml differ only in seed (and name) form a group: tables give the mean ±
// sample standard deviation over its runs, figures a mean line with a band (min–max by
// default, or mean ± std). Runs are aligned by step — a run's value at step t is its latest
// analysis at or before t, if it trained that far — or by end of epoch; see Alignment.
//
// The report opens with a summary: groups that differ only in the compared setting
// (model.norm when it differs) side by side, with the ratio of their λmax and κ_p. A κ whose
// divisor is round-off is rank-limited (see RankLimited): tables say so and figures mark it
// instead of drawing the quotient.
//
// Runs that wrote the exact curvature of analysis.curvature (records of factor "curvature") get
// curvature views besides: per layer, K-FAC's λmax(Σx⊗Σ∇h) against the exact EF, GGN and
// Hessian blocks; the whole network's λmax against the max and the sum of its blocks'; the
// sharpness against 2(1+μ)/η; and which curvature crosses that threshold in the runs that
// diverged. Runs without such records get a report without them.
//
// Figures are described by Figure values (panels, series, legend) and drawn with gonum/plot as
// PNG and SVG, so what a figure shows can be checked without looking at pixels. Spectra come
// from a Spectra source per run; runs that stored none are left out of spectrum figures.
package compare
