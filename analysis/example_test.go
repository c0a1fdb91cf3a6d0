package analysis_test

import (
	"encoding/json"
	"fmt"

	"github.com/lwca/lwca/analysis"
)

// Two inputs of a layer, x = (1, 0) and x = (0, 2), give Σx = diag(1/2, 2).
func ExampleMoment() {
	m := analysis.NewMoment(2)
	m.AddRows32([]float32{1, 0, 0, 2}, 2, 1)
	s, err := analysis.Eigen(m.Matrix(analysis.FactorOptions{}), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Values, m.Count())
	// Output: [2 0.5] 2
}

// The Fisher block's spectrum is the product spectrum of its factors, so its
// κ is the product of theirs while its κ_0.5 is not.
func ExampleKroneckerSpectrum() {
	sx := analysis.NewSpectrum([]float64{4, 2, 1})
	sg := analysis.NewSpectrum([]float64{3, 1})
	ps := []float64{0.5, 1}
	for _, s := range []analysis.Spectrum{sx, sg, analysis.KroneckerSpectrum(sx, sg)} {
		m := analysis.Compute(s, ps)
		fmt.Printf("%v κ=%v κ_0.5=%v\n", s.Values, m.Kappa, m.KappaP[0].Value)
	}
	// Output:
	// [4 2 1] κ=4 κ_0.5=2
	// [3 1] κ=3 κ_0.5=1
	// [12 6 4 3 2 1] κ=12 κ_0.5=3
}

// Metrics marshal to a flat object with a fixed key order; infinite values
// become strings.
func ExampleMetrics_Record() {
	m := analysis.Compute(analysis.NewSpectrum([]float64{4, 1, 0}), []float64{0.5})
	b, err := json.Marshal(m)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))
	// Output:
	// {"dim":3,"lambda_max":4,"lambda_min":0,"kappa":"+Inf","kappa_p0.5":4,"energy_kappa_p0.5":1,"trace":5,"numerical_rank":2,"effective_rank":1.6493848884661177,"stable_rank":1.25,"clipped":0,"min_raw":0}
}

// A learning rate is stable for a layer while the ratio stays below 1.
func ExampleStabilityRatio() {
	fmt.Printf("%.2f\n", analysis.StabilityRatio(0.1, 0.9, 50))
	// Output: 1.32
}
