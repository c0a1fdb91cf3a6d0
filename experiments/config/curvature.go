package config

// CurvatureConfig (analysis.curvature) adds the exact curvature of the network on a fixed,
// seeded sample at analysis steps: spectra of the Hessian, the generalised Gauss-Newton and the
// empirical Fisher, whole and per layer, next to K-FAC's Σx ⊗ Σ∇h. Off unless a preset is
// chosen; every other key then has a default (its zero value selects it), so that a config
// without this section reads, and hashes, as before it existed.
type CurvatureConfig struct {
	// Preset chooses the quantities, in increasing cost: "off" (default), "sharpness" (the
	// largest Hessian eigenvalue of the whole network), "blocks" (adds the top eigenvalues of
	// the Hessian, GGN, empirical Fisher and K-FAC blocks of every analysed layer and of the
	// GGN and empirical Fisher of all weights), "full" (adds Hutchinson traces and stochastic
	// Lanczos quadrature densities).
	Preset string `yaml:"preset,omitempty"`

	// Every computes the curvature at the analysis steps that are multiples of it (it must be
	// a multiple of analysis.every); 0: at every analysis step.
	Every int `yaml:"every,omitempty"`

	// BatchSize is the size of the seeded sample of training samples, the same at every step;
	// 0: 512.
	BatchSize int `yaml:"batch_size,omitempty"`

	// TopK is the number of eigenvalues per block (blocks, full); 0: 3.
	TopK int `yaml:"top_k,omitempty"`

	// MaxIter bounds Lanczos's Krylov dimension (matvecs) per spectrum; 0: 60.
	MaxIter int `yaml:"max_iter,omitempty"`

	// Tol is Lanczos's relative residual; 0: 1e-6. The sharpness, whose eigenvector is not
	// recorded, stops at the residual √Tol, which bounds its value's relative error by
	// Tol·λmax/gap (gap: to the next eigenvalue).
	Tol float64 `yaml:"tol,omitempty"`

	// Probes is the number of Rademacher probes of the traces and densities (full); 0: 10.
	Probes int `yaml:"probes,omitempty"`

	// Nodes is the number of Lanczos steps (quadrature nodes) per density probe (full); 0: 30.
	Nodes int `yaml:"nodes,omitempty"`

	// Verify checks every finite-difference product against one with an eight times smaller
	// step, which catches the kinks of max pooling that the activation pattern does not show,
	// at twice the cost. Default false.
	Verify bool `yaml:"verify,omitempty"`
}

// Curvature presets.
const (
	CurvatureOff       = "off"
	CurvatureSharpness = "sharpness"
	CurvatureBlocks    = "blocks"
	CurvatureFull      = "full"
)

// Enabled reports whether a preset other than off is chosen.
func (c CurvatureConfig) Enabled() bool { return c.Preset != "" && c.Preset != CurvatureOff }

func (k *checker) curvature(c CurvatureConfig, analysisEvery int) {
	if c.Preset != "" {
		k.oneOf("analysis.curvature.preset", c.Preset, CurvatureOff, CurvatureSharpness, CurvatureBlocks, CurvatureFull)
	}
	k.intMin("analysis.curvature.every", c.Every, 0)
	if c.Every > 0 && analysisEvery > 0 && c.Every%analysisEvery != 0 {
		k.add("analysis.curvature.every", "must be a multiple of analysis.every = %d, got %d", analysisEvery, c.Every)
	}
	k.intMin("analysis.curvature.batch_size", c.BatchSize, 0)
	k.intMin("analysis.curvature.top_k", c.TopK, 0)
	k.intMin("analysis.curvature.max_iter", c.MaxIter, 0)
	k.intMin("analysis.curvature.probes", c.Probes, 0)
	k.intMin("analysis.curvature.nodes", c.Nodes, 0)
	if c.Tol < 0 || c.Tol >= 1 {
		k.add("analysis.curvature.tol", "must be in [0, 1), got %v", c.Tol)
	}
}
