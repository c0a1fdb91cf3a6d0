package backend

import "github.com/lwca/lwca/analysis"

// UseForAnalysis routes the analysis's eigenvalues and second-moment updates through the
// backend that info describes: the analysis itself never asks which BLAS is present.
func UseForAnalysis(info Info) {
	analysis.DefaultSolver = Eigenvalues
	analysis.DefaultRankK = analysis.ParallelRankK
	if info.Name == string(OpenBLAS) {
		analysis.DefaultRankK = RankK // gonum's own dsyrk is slower than the parallel loop
	}
}
