package experiments

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/lwca/lwca/data"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/layers"
	"github.com/lwca/lwca/nets"
	"gorgonia.org/tensor"
)

// DataSource returns the file or folder a config's data set is read from: data.path (a path
// in the data root resolved), else the data set's default (the GoMNIST module, the data root's
// folder); "" for synthetic data. A data set that is missing gives an error naming where it
// was looked for and how to get it, matching fs.ErrNotExist, before anything loads.
func DataSource(c config.DataConfig) (string, error) {
	switch {
	case c.Dataset == config.DatasetSynthetic:
		return "", nil
	case c.Path != "":
		return data.Locate(c.Path)
	case c.Dataset == config.DatasetMNIST:
		return data.DefaultMNISTDir()
	case c.Dataset == config.DatasetFashionMNIST:
		return data.DefaultFashionMNISTDir()
	case c.Dataset == config.DatasetCIFAR10:
		return data.DefaultCIFAR10Dir()
	}
	return "", fmt.Errorf("data.path: dataset %q needs a path", c.Dataset)
}

// LoadData loads and normalises the training and test sets a config asks for.
func LoadData(c config.DataConfig, seed uint64) (train, test *data.Set, err error) {
	src, err := DataSource(c)
	if err != nil {
		return nil, nil, err
	}
	switch c.Dataset {
	case config.DatasetMNIST:
		train, test, err = data.MNIST(src)
	case config.DatasetFashionMNIST:
		train, test, err = data.FashionMNIST(src)
	case config.DatasetCIFAR10:
		train, test, err = data.CIFAR10(src)
	case config.DatasetImageFolder:
		train, test, err = data.ImageFolder(src)
	case config.DatasetSynthetic:
		s := c.Synthetic
		train, test = data.Synthetic(data.SyntheticOptions{Classes: s.Classes, D: s.Dim, NTrain: s.Train,
			NTest: s.Test, Separation: s.Separation, Noise: s.Noise, Seed: seed})
	default:
		return nil, nil, fmt.Errorf("data.dataset: unknown dataset %q", c.Dataset)
	}
	if err != nil {
		return nil, nil, err
	}
	// Limits draw a seeded sample: taking the first N would keep a single class of a
	// class-sorted image folder.
	if c.TrainLimit > 0 && c.TrainLimit < train.N {
		train = train.Sample(c.TrainLimit, seed)
	}
	if c.TestLimit > 0 && c.TestLimit < test.N {
		test = test.Sample(c.TestLimit, seed+1)
	}
	// Pixel datasets load as x/255 ("unit"); synthetic features are left as drawn.
	if c.Dataset != config.DatasetSynthetic {
		switch c.Normalize {
		case config.NormalizeStandard:
			mean, std := data.Stats(train)
			train.Standardize(mean, std)
			test.Standardize(mean, std)
		case config.NormalizeNone: // raw pixel values 0..255
			train.Standardize(0, 1.0/255)
			test.Standardize(0, 1.0/255)
		case config.NormalizeChannels:
			mean, std := data.ChannelStats(train)
			train.NormalizeChannels(mean, std)
			test.NormalizeChannels(mean, std)
		case config.NormalizeCIFAR10:
			mean, std := data.CIFAR10MeanStd()
			if len(train.Shape) != 3 || train.Shape[2] != len(mean) {
				return nil, nil, fmt.Errorf("data.normalize: cifar10 statistics need 3-channel images, the data has shape %v", train.Shape)
			}
			train.NormalizeChannels(mean, std)
			test.NormalizeChannels(mean, std)
		}
	}
	if train.N == 0 {
		return nil, nil, fmt.Errorf("data: the training set of %s is empty", train.Name)
	}
	if train.N < c.BatchSize {
		return nil, nil, fmt.Errorf("data.batch_size: %d is larger than the training set (%d samples)", c.BatchSize, train.N)
	}
	return train, test, nil
}

// BuildModel returns the network a config describes for samples of the given shape (images:
// height, width, channels) and a parameter store seeded from the run's seed. Every network,
// preset or declared, is the registered architecture's list of layers built by layers.Build.
func BuildModel(c config.Config, shape []int, classes int) (graph.Layer, *graph.Store, error) {
	specs, err := ModelLayers(c, shape, classes)
	if err != nil {
		return nil, nil, err
	}
	m := c.Model
	net, _, err := layers.Build(specs, layers.Shape(shape), layers.Defaults{Init: m.Init, BNMomentum: m.BNMomentum,
		BNEps: m.BNEps, ConvMode: graph.ConvMode(c.Analysis.ConvMode)})
	if err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	dtype := tensor.Float32
	if c.Train.Dtype == config.DtypeFloat64 {
		dtype = tensor.Float64
	}
	if err := checkModelSize(net, dtype); err != nil {
		return nil, nil, err
	}
	return net, graph.NewStore(dtype, c.Seed), nil
}

// ModelMemoryEnv names the environment variable that sets the memory a model's parameters
// may need (bytes, or with a K, M, G or T suffix: powers of 1024); the default is half the
// machine's physical memory.
const ModelMemoryEnv = "LWCA_MODEL_MEMORY"

// copiesPerParam is how many values of each parameter a run keeps: the value, its gradient
// and up to two optimiser moments (Adam).
const copiesPerParam = 4

// checkModelSize refuses a network whose parameters would need more memory than the limit,
// before anything is allocated: a width of 100000 would otherwise end in the runtime's
// out-of-memory crash, and a huge depth in a setup of hours.
func checkModelSize(net graph.Layer, dtype tensor.Dtype) error {
	limit, source, err := modelMemoryLimit()
	if err != nil {
		return err
	}
	n := graph.CountParams(net)
	need := float64(n) * float64(dtype.Size()) * copiesPerParam
	if need <= float64(limit) {
		return nil
	}
	return fmt.Errorf("model: %d parameters would need about %s (%d-byte values, %d copies: values, gradients, optimiser state), more than the %s allowed (%s)",
		n, byteSize(need), dtype.Size(), copiesPerParam, byteSize(float64(limit)), source)
}

// modelMemoryLimit returns the limit and where it comes from.
func modelMemoryLimit() (int64, string, error) {
	if v := os.Getenv(ModelMemoryEnv); v != "" {
		n, err := parseBytes(v)
		if err != nil {
			return 0, "", fmt.Errorf("%s=%s: %v", ModelMemoryEnv, v, err)
		}
		return n, ModelMemoryEnv, nil
	}
	if total := physicalMemory(); total > 0 {
		return total / 2, fmt.Sprintf("half the physical memory; %s sets another limit", ModelMemoryEnv), nil
	}
	return 8 << 30, fmt.Sprintf("physical memory unknown; %s sets another limit", ModelMemoryEnv), nil
}

// physicalMemory returns the machine's memory in bytes from /proc/meminfo, or 0.
func physicalMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// parseBytes reads "1073741824", "512M", "16G" or "16GiB".
func parseBytes(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	shift := 0
	if t != "" {
		if i := strings.IndexByte("KMGT", t[len(t)-1]); i >= 0 {
			shift, t = 10*(i+1), t[:len(t)-1]
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) {
		return 0, fmt.Errorf("expected a positive number of bytes, such as 8G or 512M")
	}
	return int64(min(n*float64(int64(1)<<shift), math.MaxInt64)), nil
}

// byteSize renders a number of bytes with a binary unit.
func byteSize(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for ; b >= 1024 && i < len(units)-1; i++ {
		b /= 1024
	}
	return fmt.Sprintf("%.3g %s", b, units[i])
}

// ModelLayers returns the layers of the config's network: its architecture expanded.
func ModelLayers(c config.Config, shape []int, classes int) ([]layers.Spec, error) {
	m := c.Model
	arch, err := nets.Archs.Lookup(m.Arch)
	if err != nil {
		return nil, fmt.Errorf("model.arch: %w", err)
	}
	specs, err := arch.Expand(nets.Options{Depth: m.Depth, Width: m.Width, Activation: m.Activation, Norm: m.Norm,
		BNPlacement: m.BNPlacement, Bias: m.Bias, Form: m.Form, Shortcut: m.Shortcut, Widths: m.Widths,
		Channels: m.Channels, PoolEvery: m.PoolEvery, Layers: m.Layers, Own: m.Options}, layers.Shape(shape), classes)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", m.Arch, err)
	}
	return specs, nil
}
