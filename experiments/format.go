package experiments

import "github.com/lwca/lwca/rundir"

// The run-directory format is defined once, in package rundir, which the readers of run
// directories share. These are its names under those this package has always exported, so
// that code written against experiments keeps working.

// Run statuses recorded in summary.json.
const (
	StatusRunning   = rundir.StatusRunning
	StatusCompleted = rundir.StatusCompleted
	StatusDiverged  = rundir.StatusDiverged // the loss became NaN or ±Inf: a result, not a failure
	StatusStopped   = rundir.StatusStopped  // interrupted (context cancelled)
	StatusFailed    = rundir.StatusFailed
)

// File names in a run directory.
const (
	ConfigFile       = rundir.ConfigFile
	MetricsFile      = rundir.MetricsFile
	ConditioningFile = rundir.ConditioningFile
	SummaryFile      = rundir.SummaryFile
	SpectraDir       = rundir.SpectraDir    // the factors' full spectra
	WeightsDir       = rundir.WeightsDir    // weights/step_<S>/: model states for lwca analyze
	CheckpointDir    = rundir.CheckpointDir // the last checkpoint, for lwca run --resume
	AnalysisDir      = rundir.AnalysisDir   // analysis/step_<S>/: lwca analyze's default output
)

// Factor names in conditioning records.
const (
	FactorInput    = rundir.FactorX      // Σx = E[x xᵀ]
	FactorGradient = rundir.FactorGrad   // Σ∇h = E[∇h ∇hᵀ]
	FactorFisher   = rundir.FactorFisher // F ≈ Σx ⊗ Σ∇h, from the product spectrum
)

type (
	// Summary is the content of summary.json.
	Summary = rundir.Summary
	// Final holds a run's closing figures.
	Final = rundir.Final
	// ConfigChange is one resume with an edited config.yaml.
	ConfigChange = rundir.ConfigChange
	// SpectraIndex is spectra/index.json.
	SpectraIndex = rundir.SpectraIndex
	// SpectrumFile names the spectra file of one layer's factor.
	SpectrumFile = rundir.SpectrumFile
)
