// Package config defines the YAML schema of an lwca experiment: what data to
// train on, which network, how to optimise it and when to analyse its
// layer-wise conditioning.
//
// A configuration file names only what differs from the defaults:
//
//	data:
//	  dataset: mnist
//	model:
//	  norm: batchnorm
//	analysis:
//	  p: [0.5, 1]
//
// It is read with Load, optionally adjusted by dotted overrides, and the
// resolved result (every default filled in) can be written back with Marshal:
//
//	cfg, err := config.Load("configs/mnist_mlp_bn.yaml", []string{"optim.lr=0.05"})
//	if err != nil {
//		log.Fatal(err) // every problem found, one per line, each with file:line and field
//	}
//	out, _ := cfg.Marshal()
//
// Decoding is strict: unknown keys, values of the wrong type and values out
// of range are all errors. All problems in a file are reported together.
// A key given with no value keeps the defaults of a section, empties a list
// or a string, and is an error for a number or a boolean. A single value
// where a list is expected is read as a one-element list.
//
// Adding a field means adding it, with a yaml tag, to one of the section
// types below, giving it a default in Default and a check in Validate.
// A new section is a new struct type and a new field of Config; the decoder
// discovers both by reflection.
package config

import (
	"bytes"

	"github.com/lwca/lwca/layers"
	"github.com/lwca/lwca/optim"

	"gopkg.in/yaml.v3"
)

// Config is a complete experiment configuration.
type Config struct {
	// Name identifies the experiment in run directories and reports.
	// Free text; defaults to the configuration file's base name without
	// its extension.
	Name string `yaml:"name"`

	// Seed seeds every random choice of the run. Default 1.
	Seed uint64 `yaml:"seed"`

	Data     DataConfig     `yaml:"data"`
	Model    ModelConfig    `yaml:"model"`
	Optim    OptimConfig    `yaml:"optim"`
	Train    TrainConfig    `yaml:"train"`
	Analysis AnalysisConfig `yaml:"analysis"`
}

// Dataset names accepted in data.dataset.
const (
	DatasetMNIST        = "mnist"
	DatasetFashionMNIST = "fashion-mnist"
	DatasetSynthetic    = "synthetic"
	DatasetCIFAR10      = "cifar10"     // the binary set or the JPEG copy: a directory, or cifar-10-binary.tar.gz
	DatasetImageFolder  = "imagefolder" // <split>/<class>/*.jpg|png, a directory or a .tar.gz
)

// Input normalisations accepted in data.normalize.
const (
	NormalizeNone     = "none"     // raw pixel values
	NormalizeUnit     = "unit"     // x/255
	NormalizeStandard = "standard" // (x/255-mean)/std with training-set statistics
	NormalizeChannels = "channels" // per channel, with training-set statistics
	NormalizeCIFAR10  = "cifar10"  // per channel, the ResNet recipe's fixed CIFAR-10 statistics
)

// DataConfig selects and prepares the data set.
type DataConfig struct {
	// Dataset is one of mnist, fashion-mnist, synthetic, cifar10 or
	// imagefolder. Required.
	Dataset string `yaml:"dataset"`

	// Path is where the data set is read from. Empty selects the default:
	// the GoMNIST module for mnist, the data root's folder for cifar10 and
	// fashion-mnist (see data.Root); imagefolder needs a path. A path
	// written as $LWCA_DATA/NAME names NAME in the data root, wherever that
	// is on the machine that runs the config, and is looked up when the
	// data loads. Any other path must exist: a directory, or for cifar10
	// and imagefolder also an archive. A relative path is taken relative to
	// the config file's directory (from --set, to the working directory).
	Path string `yaml:"path"`

	// BatchSize is the training mini-batch size, > 0. Default 128.
	BatchSize int `yaml:"batch_size"`

	// EvalBatchSize is the batch size used for evaluation, > 0. Default 1000.
	EvalBatchSize int `yaml:"eval_batch_size"`

	// Normalize is none, unit or standard. Default standard.
	Normalize string `yaml:"normalize"`

	// Shuffle reshuffles the training set every epoch. Default true.
	Shuffle bool `yaml:"shuffle"`

	// TrainLimit, if > 0, keeps a seeded sample of TrainLimit training
	// samples (in their original order). Default 0 (all).
	TrainLimit int `yaml:"train_limit"`

	// TestLimit, if > 0, keeps a seeded sample of TestLimit test samples.
	// Default 0 (all).
	TestLimit int `yaml:"test_limit"`

	// Synthetic describes the generated data set; used only when Dataset
	// is synthetic, but always validated.
	Synthetic SyntheticConfig `yaml:"synthetic"`

	// Augment applies seeded training-time augmentation to image datasets.
	Augment AugmentConfig `yaml:"augment"`
}

// AugmentConfig is training-time augmentation of images (applied after normalisation, so the
// padding is the mean colour). The draws depend on (seed, epoch, batch) only.
type AugmentConfig struct {
	// CropPad pads images by this many zero pixels on every side and crops a random window
	// of the original size; 0 disables. Default 0 (4 in the CIFAR recipe).
	CropPad int `yaml:"crop_pad"`

	// Flip mirrors each image horizontally with probability 1/2. Default false.
	Flip bool `yaml:"flip"`
}

// SyntheticConfig describes a Gaussian-cluster classification problem.
type SyntheticConfig struct {
	// Classes is the number of classes, ≥ 2. Default 10.
	Classes int `yaml:"classes"`

	// Dim is the input dimension, ≥ 1. Default 32.
	Dim int `yaml:"dim"`

	// Train is the number of training samples, ≥ 1. Default 2048.
	Train int `yaml:"train"`

	// Test is the number of test samples, ≥ 1. Default 512.
	Test int `yaml:"test"`

	// Separation scales the distance between class means, ≥ 0. Default 3.
	Separation float64 `yaml:"separation"`

	// Noise is the standard deviation of the within-class noise, ≥ 0.
	// Default 1.
	Noise float64 `yaml:"noise"`
}

// Values accepted by the enumerated fields of ModelConfig.
const (
	ArchMLP    = "mlp"
	ArchCNN    = "cnn"
	ArchResNet = "resnet"
	ArchLayers = "layers" // the model's own layers

	FormOriginal = "original"
	FormPreAct   = "preact"
	FormLastBN   = "lastbn"

	ShortcutA = "A"
	ShortcutB = "B"

	ActReLU     = "relu"
	ActTanh     = "tanh"
	ActSigmoid  = "sigmoid"
	ActIdentity = "identity"
	ActGELU     = "gelu"

	NormNone      = "none"
	NormBatchNorm = "batchnorm"

	BNBefore = "before" // linear → BN → activation
	BNAfter  = "after"  // linear → activation → BN

	InitHe     = "he"
	InitHeOut  = "he_fanout"
	InitXavier = "xavier"
)

// ModelConfig describes the network.
type ModelConfig struct {
	// Arch is a registered architecture: mlp, cnn, resnet (presets that expand the keys below
	// into layers), layers (the layers declared under layers) or one a program registered.
	// Default mlp, or layers when layers are declared.
	Arch string `yaml:"arch"`

	// Depth is the number of weighted (linear) layers, ≥ 1; the MLP
	// 784-256-256-256-10 has depth 4. Default 4.
	Depth int `yaml:"depth"`

	// Width is the hidden-layer width, ≥ 1. Default 256.
	Width int `yaml:"width"`

	// Activation is relu, tanh, sigmoid or identity. Default relu.
	Activation string `yaml:"activation"`

	// Norm is none or batchnorm. Default none.
	Norm string `yaml:"norm"`

	// BNPlacement puts batch normalisation before or after the
	// activation. Default before.
	BNPlacement string `yaml:"bn_placement"`

	// Bias gives linear layers a bias. Default true.
	Bias bool `yaml:"bias"`

	// Init is the weight initialisation, he or xavier. Default he.
	Init string `yaml:"init"`

	// BNMomentum is the weight of the current batch in the running
	// statistics (PyTorch convention), in (0, 1]. Default 0.1.
	BNMomentum float64 `yaml:"bn_momentum"`

	// BNEps is added to the variance in batch normalisation, > 0.
	// Default 1e-5.
	BNEps float64 `yaml:"bn_eps"`

	// Form is the ResNet variant: original (post-activation), preact or lastbn (original with
	// one BatchNorm between global pooling and the classifier). Default original.
	Form string `yaml:"form"`

	// Shortcut is the ResNet shortcut for blocks that change shape: A (subsample and
	// zero-pad channels) or B (1×1 convolution and BatchNorm). Default A.
	Shortcut string `yaml:"shortcut"`

	// Widths are the three ResNet stage widths. Default [16, 32, 64].
	Widths []int `yaml:"widths,flow"`

	// Channels are the output channels of the plain CNN's convolutions.
	// Default [32, 32, 64, 64].
	Channels []int `yaml:"channels,flow"`

	// PoolEvery puts a 2×2 max pool after every PoolEvery convolutions of the CNN, ≥ 1.
	// Default 2.
	PoolEvery int `yaml:"pool_every"`
	// Layers declares the network layer by layer, from registered layer types (see package
	// layers); it goes with arch layers, which is implied when arch is not given. Each entry
	// is a type name, or a mapping of type, name and the type's options. Default none.
	Layers []layers.Spec `yaml:"layers,omitempty"`

	// Options are the architecture's own options when its registry entry declares a struct
	// for them (lwca's presets use the keys above): further keys of the model section,
	// decoded strictly by the struct's yaml tags. nil otherwise.
	Options any `yaml:"-"`
}

// MarshalYAML writes the architecture's own options, if any, as keys of the section, last.
func (m ModelConfig) MarshalYAML() (any, error) {
	type plain ModelConfig // without this method
	var n yaml.Node
	if err := n.Encode(plain(m)); err != nil {
		return nil, err
	}
	if m.Options != nil {
		var opts yaml.Node
		if err := opts.Encode(m.Options); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, opts.Content...)
	}
	return &n, nil
}

// OptimConfig describes the optimiser.
type OptimConfig struct {
	// Type is a registered optimiser: sgd, adam, adamw, or one a program registered.
	// Default sgd.
	Type string `yaml:"type"`

	// LR is the base learning rate, finite and > 0. Default 0.1.
	LR float64 `yaml:"lr"`

	// WeightDecay is the weight decay coefficient, ≥ 0: L2 added to the gradient (sgd, adam)
	// or decoupled (adamw). Default 0.
	WeightDecay float64 `yaml:"weight_decay"`

	Schedule ScheduleConfig `yaml:"schedule"`

	// Options are the optimiser's own options, a pointer to the struct its registry entry
	// returns; in YAML they are further keys of the optim section, decoded strictly by the
	// struct's yaml tags. sgd: momentum (in [0, 1), default 0.9) and nesterov (default
	// false); adam and adamw: beta1, beta2 (in [0, 1), defaults 0.9, 0.999) and eps (> 0,
	// default 1e-8).
	Options any `yaml:"-"`
}

// MarshalYAML writes the optimiser's options as keys of the section, after lr.
func (o OptimConfig) MarshalYAML() (any, error) {
	type plain OptimConfig // without this method
	var n yaml.Node
	if err := n.Encode(plain(o)); err != nil {
		return nil, err
	}
	if o.Options == nil {
		return &n, nil
	}
	var opts yaml.Node
	if err := opts.Encode(o.Options); err != nil {
		return nil, err
	}
	at := len(n.Content)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "lr" {
			at = i + 2
		}
	}
	n.Content = append(n.Content[:at], append(opts.Content, n.Content[at:]...)...)
	return &n, nil
}

// Learning-rate schedule types accepted in optim.schedule.type.
const (
	ScheduleConstant  = "constant"
	ScheduleMultistep = "multistep"
)

// ScheduleConfig describes how the learning rate changes during training.
type ScheduleConfig struct {
	// Type is constant or multistep. Default constant.
	Type string `yaml:"type"`

	// Milestones are the epochs at which the learning rate is multiplied
	// by Gamma: strictly increasing, each ≥ 1. Required (non-empty) for
	// multistep. Default none.
	Milestones []int `yaml:"milestones,flow"`

	// Gamma is the decay factor at each milestone, in (0, 1]. Default 0.1.
	Gamma float64 `yaml:"gamma"`

	// WarmupSteps is the number of steps trained at WarmupLR before the
	// schedule starts, ≥ 0. Default 0.
	WarmupSteps int `yaml:"warmup_steps"`

	// WarmupLR is the learning rate during warm-up, finite and > 0.
	// Default 0.01.
	WarmupLR float64 `yaml:"warmup_lr"`
}

// Floating-point types accepted in train.dtype.
const (
	DtypeFloat32 = "float32"
	DtypeFloat64 = "float64"
)

// TrainConfig describes the length and precision of training.
type TrainConfig struct {
	// Epochs is the number of passes over the training set, ≥ 1.
	// Default 10.
	Epochs int `yaml:"epochs"`

	// Steps, if > 0, caps the total number of optimisation steps.
	// Default 0 (no cap).
	Steps int `yaml:"steps"`

	// Dtype is float32 or float64. Default float32.
	Dtype string `yaml:"dtype"`

	// LogEvery is the number of steps between plain log lines, ≥ 0;
	// 0 disables them. Default 50.
	LogEvery int `yaml:"log_every"`

	// CheckpointEvery is the number of steps between checkpoints of the
	// complete training state, ≥ 0; a run also checkpoints when it ends or
	// is stopped. 0: only then. Default 500.
	CheckpointEvery int `yaml:"checkpoint_every"`
}

// AnalysisConfig says when and what to analyse.
type AnalysisConfig struct {
	// Every analyses the network every Every steps, counting the first
	// step as step 0; 0 never analyses. Default 100.
	Every int `yaml:"every"`

	// P lists the p of the general condition numbers κ_p, each in (0, 1]
	// and distinct. A single number is accepted as a one-element list.
	// Default [0.2, 0.5, 0.8, 1].
	P []float64 `yaml:"p,flow"`

	// Layers names the layers to analyse, distinct and non-empty; empty
	// analyses every weighted layer. A single name is accepted as a
	// one-element list. Default empty.
	Layers []string `yaml:"layers,flow"`

	// Fisher chooses the gradient statistics: "empirical" (the training
	// step's own gradients, true labels) or "true" (labels drawn from the
	// model's softmax; one extra backward pass that leaves the parameters,
	// their gradients and the running statistics untouched). Default
	// empirical.
	Fisher string `yaml:"fisher"`

	// Source chooses the samples: "window" (the training batches of the
	// analysis step and the Window-1 steps after it, pooled: no extra
	// passes, and N above the layers' widths), "batch" (the analysis step's
	// training batch alone), "fixed" (one seeded sample of BatchSize
	// training samples, the same at every analysis step) or "average"
	// (Batches fresh training batches pooled in extra passes). Default
	// window.
	Source string `yaml:"source"`

	// Window is the number of training steps whose captures one analysis
	// pools (source window), from the analysis step on; ≤ Every. Default 0:
	// the fewest steps that give every analysed factor at least as many
	// rows as dimensions, at most 8 (a wider factor, such as a 4096-input
	// classifier, is formed from its 8 steps' rows and its κ_p beyond
	// their rank is recorded as rank-limited).
	Window int `yaml:"window"`

	// BatchSize is the size of the fixed analysis sample (source fixed),
	// ≥ 1. Default 4096.
	BatchSize int `yaml:"batch_size"`

	// Batches is the number of batches pooled per analysis step (source
	// average), ≥ 1. Default 8.
	Batches int `yaml:"batches"`

	// ChunkSize, if > 0, passes the fixed sample through the network in
	// chunks of at most this many samples (the largest divisor of BatchSize
	// not above it), which bounds the memory of deep convnets' analysis
	// passes. Without normalisation layers the factors do not depend on it;
	// BatchNorm and other batch-statistics layers then normalise each chunk
	// by its own statistics, as in training with batches of that size. K-FAC
	// fidelity is measured on the first chunk. Default 0: the whole sample in
	// one pass.
	ChunkSize int `yaml:"chunk_size"`

	// Centered uses covariances (second moments about the mean) instead of
	// uncentered second moments. Default false.
	Centered bool `yaml:"centered"`

	// AppendBias appends a constant 1 to every layer input before Σx is
	// formed (the usual K-FAC treatment of the bias). Not with Centered.
	// Default false.
	AppendBias bool `yaml:"append_bias"`

	// FidelityMaxParams bounds the layers (by d·m weights) for which the
	// exact empirical Fisher block is compared with Σx ⊗ Σ∇h; 0 turns the
	// comparison off. Default 20000.
	FidelityMaxParams int `yaml:"fidelity_max_params"`

	// Concurrent hands an analysis step's factors (and its curvature) to a
	// worker that solves them beside training, at the lowest scheduling
	// priority. Default true. A run with several BLAS threads trains on one
	// from the step that hands the worker its analysis until a number of
	// steps fixed by an estimate of the work, then waits for the worker if
	// need be: OpenBLAS shares one pool of threads among its callers (two
	// callers each asking for every core slowed a run by 53 %), and the
	// switch never depends on timing, so a repeated or resumed run rounds
	// its products the same way. With one BLAS thread the records are those
	// of an analysis in turn with training.
	Concurrent bool `yaml:"concurrent"`

	// Spectra saves every analysed factor's full spectrum as .npy files
	// under spectra/. Default true.
	Spectra bool `yaml:"spectra"`

	// SaveWeightsEvery saves the model state (weights, normalisation
	// statistics) under weights/ at every step that is a multiple of it,
	// for post-hoc analysis with lwca analyze; 0 never. Default 0.
	SaveWeightsEvery int `yaml:"save_weights_every"`

	// ConvMode is what a convolution's Σx is built from: patches (each output position's
	// C_in·kh·kw input patch; K-FAC for convolutions) or channels (the C_in vector at each
	// input pixel). Default patches.
	ConvMode string `yaml:"conv_mode"`

	// Curvature adds exact curvature spectra (Hessian, GGN, empirical Fisher); see
	// CurvatureConfig. Default off.
	Curvature CurvatureConfig `yaml:"curvature,omitempty"`
}

// Analysis choices.
const (
	FisherEmpirical = "empirical"
	FisherTrue      = "true"
	SourceWindow    = "window"
	SourceBatch     = "batch"
	SourceFixed     = "fixed"
	SourceAverage   = "average"
	ConvPatches     = "patches"
	ConvChannels    = "channels"
)

// Default returns the configuration used for every key a file leaves out.
// It is not valid on its own: data.dataset has no default.
func Default() Config {
	return Config{
		Seed: 1,
		Data: DataConfig{
			BatchSize:     128,
			EvalBatchSize: 1000,
			Normalize:     NormalizeStandard,
			Shuffle:       true,
			Synthetic: SyntheticConfig{
				Classes:    10,
				Dim:        32,
				Train:      2048,
				Test:       512,
				Separation: 3,
				Noise:      1,
			},
		},
		Model: ModelConfig{
			Arch:        ArchMLP,
			Depth:       4,
			Width:       256,
			Activation:  ActReLU,
			Norm:        NormNone,
			BNPlacement: BNBefore,
			Bias:        true,
			Init:        InitHe,
			BNMomentum:  0.1,
			BNEps:       1e-5,
			Form:        FormOriginal,
			Shortcut:    ShortcutA,
			Widths:      []int{16, 32, 64},
			Channels:    []int{32, 32, 64, 64},
			PoolEvery:   2,
		},
		Optim: OptimConfig{
			Type:    "sgd",
			LR:      0.1,
			Options: &optim.SGDOptions{Momentum: 0.9},
			Schedule: ScheduleConfig{
				Type:     ScheduleConstant,
				Gamma:    0.1,
				WarmupLR: 0.01,
			},
		},
		Train: TrainConfig{
			Epochs:          10,
			Dtype:           DtypeFloat32,
			LogEvery:        50,
			CheckpointEvery: 500,
		},
		Analysis: AnalysisConfig{
			Every:             100,
			P:                 []float64{0.2, 0.5, 0.8, 1},
			Fisher:            FisherEmpirical,
			Source:            SourceWindow,
			BatchSize:         4096,
			Batches:           8,
			FidelityMaxParams: 20000,
			Concurrent:        true,
			Spectra:           true,
			ConvMode:          ConvPatches,
		},
	}
}

// Marshal returns c as YAML with every field written out, in the order of
// the struct definitions. Equal configurations give identical bytes, and
// Parse of the result gives back c (empty lists are read back as nil).
func (c Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
