// Package rundir is the one definition of what a run directory holds: its file and directory
// names, the statuses of summary.json, the factor names and record types of the JSON-lines
// files, and the manifest of a sweep directory that holds many runs. Package experiments
// writes this format and package compare reads it; both take the names and types from here,
// so that the two cannot drift apart, and compare reads run directories without linking the
// training code.
//
// A run directory holds:
//
//	config.yaml          the resolved config (every default filled in)
//	metrics.jsonl        one TrainRecord per step, one TestRecord per epoch
//	conditioning.jsonl   one record per analysis step, layer and factor (x, grad, fisher)
//	summary.json         a Summary: status, final figures, timing
//	spectra/             SpectraIndex (index.json), steps.npy, <layer>.<factor>.npy
//	weights/step_<S>/    model states, for lwca analyze
//	checkpoint/          the last checkpoint, for lwca run --resume
//	analysis/step_<S>/   lwca analyze's default output
//
// Numbers that may be non-finite are analysis.Float, written as "+Inf", "-Inf" and "NaN".
package rundir

import "github.com/lwca/lwca/analysis"

// File and directory names in a run directory.
const (
	ConfigFile       = "config.yaml"
	MetricsFile      = "metrics.jsonl"
	ConditioningFile = "conditioning.jsonl"
	SummaryFile      = "summary.json"
	SpectraDir       = "spectra"    // the factors' full spectra
	WeightsDir       = "weights"    // weights/step_<S>/: model states for lwca analyze
	CheckpointDir    = "checkpoint" // the last checkpoint, for lwca run --resume
	AnalysisDir      = "analysis"   // analysis/step_<S>/: lwca analyze's default output
)

// File names under SpectraDir.
const (
	SpectraIndexFile = "index.json" // a SpectraIndex
	SpectraStepsFile = "steps.npy"  // int64 (rows, 2): step, epoch of each row
)

// Run statuses recorded in summary.json.
const (
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusDiverged  = "diverged" // the loss became NaN or ±Inf: a result, not a failure
	StatusStopped   = "stopped"  // interrupted; lwca run --resume continues it
	StatusFailed    = "failed"
)

// Factor names of conditioning records and spectra files.
const (
	FactorX      = "x"      // Σx = E[x xᵀ]
	FactorGrad   = "grad"   // Σ∇h = E[∇h ∇hᵀ]
	FactorFisher = "fisher" // F ≈ Σx ⊗ Σ∇h, from the product spectrum; no spectra file of its own
	// FactorCurvature holds the exact curvature of analysis.curvature: the layer's EF, GGN,
	// Hessian and K-FAC blocks and the whole network's values; not one of Factors.
	FactorCurvature = "curvature"
)

// Factors lists the factors in the order a run writes them for each layer.
var Factors = []string{FactorX, FactorGrad, FactorFisher}

// Final holds a run's closing figures: those of its last finished epoch.
type Final struct {
	TrainLoss     analysis.Float `json:"train_loss"`
	TrainAccuracy analysis.Float `json:"train_accuracy"`
	TestLoss      analysis.Float `json:"test_loss"`
	TestAccuracy  analysis.Float `json:"test_accuracy"`
}

// Summary is the content of summary.json.
type Summary struct {
	Name           string         `json:"name"`
	Status         string         `json:"status"`
	Error          string         `json:"error,omitempty"`
	DivergedAtStep *int           `json:"diverged_at_step,omitempty"`
	Steps          int            `json:"steps"`
	Epochs         int            `json:"epochs"`
	AnalysisSteps  int            `json:"analysis_steps"`
	Layers         []string       `json:"layers"`
	Data           string         `json:"data,omitempty"` // the training set's name, "/train" cut
	Final          Final          `json:"final"`
	BestTest       analysis.Float `json:"best_test_accuracy"`
	WallSeconds    float64        `json:"wall_seconds"`
	Backend        map[string]any `json:"backend,omitempty"`
	// ConfigChanges records resumes that were allowed to continue with an edited config.yaml.
	ConfigChanges []ConfigChange `json:"config_changes,omitempty"`
}

// ConfigChange is one resume with an edited config.yaml (lwca run --resume --allow-config-change).
type ConfigChange struct {
	Step   int      `json:"step"`   // the step the run continued from
	Fields []string `json:"fields"` // dotted paths of the values that differ
}

// Record types of metrics.jsonl, the value of a record's "type" key.
const (
	TypeTrain = "train"
	TypeTest  = "test"
)

// TrainRecord is a "train" record of metrics.jsonl: the mini-batch loss of one step, before
// its update. Fields that are always finite are plain float64.
type TrainRecord struct {
	Type     string         `json:"type"` // TypeTrain
	Step     int            `json:"step"`
	Epoch    int            `json:"epoch"`
	LR       float64        `json:"lr"`
	Loss     analysis.Float `json:"loss"`
	Accuracy float64        `json:"accuracy"`
}

// TestRecord is a "test" record of metrics.jsonl, written at the end of an epoch: the
// epoch's mean mini-batch figures and the test set's.
type TestRecord struct {
	Type          string         `json:"type"` // TypeTest
	Step          int            `json:"step"`
	Epoch         int            `json:"epoch"`
	TrainLoss     analysis.Float `json:"train_loss"`
	TrainAccuracy float64        `json:"train_accuracy"`
	TestLoss      analysis.Float `json:"test_loss"`
	TestAccuracy  float64        `json:"test_accuracy"`
}

// SpectraIndex is spectra/index.json: row i of every listed file is the spectrum (eigenvalues,
// descending, negatives clipped to 0) at analysis step Steps[i] = row i of steps.npy. Only
// rows that steps.npy counts are complete: a run appends the step row last.
type SpectraIndex struct {
	Steps string         `json:"steps"` // int64 (rows, 2): step, epoch
	Files []SpectrumFile `json:"files"`
	Note  string         `json:"note"`
}

// SpectrumFile names the file of one layer's factor.
type SpectrumFile struct {
	Layer  string `json:"layer"`
	Factor string `json:"factor"` // x or grad; F's spectrum is every product of the two
	File   string `json:"file"`
	Dim    int    `json:"dim"`
}
