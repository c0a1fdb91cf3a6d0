package layers

import (
	"fmt"

	"github.com/lwca/lwca/graph"
)

// lwca's own layer types register exactly as a user's do.
func init() {
	Register("linear", Define(LinearOptions{Bias: true}, Named, buildLinear))
	Register("conv2d", Define(Conv2dOptions{Kernel: 3, Stride: 1, Pad: -1, Bias: true, Groups: 1}, Named, buildConv2d))
	Register("batchnorm", Define(BatchNormOptions{}, Named, buildBatchNorm))
	for _, a := range []graph.Activation{graph.ReLU, graph.Tanh, graph.Sigmoid, graph.GELU} {
		Register(string(a), Define(struct{}{}, false, func(ctx *Context, _ struct{}) (graph.Layer, Shape, error) {
			return a, ctx.In, nil
		}))
	}
	Register("identity", Define(struct{}{}, false, func(ctx *Context, _ struct{}) (graph.Layer, Shape, error) {
		return nil, ctx.In, nil
	}))
	Register("flatten", Define(struct{}{}, false, buildFlatten))
	Register("leaky_relu", Define(LeakyReLUOptions{Slope: graph.DefaultLeakySlope}, false, func(ctx *Context, o LeakyReLUOptions) (graph.Layer, Shape, error) {
		return graph.LeakyReLU{Slope: o.Slope}, ctx.In, nil
	}))
	Register("dropout", Define(DropoutOptions{P: 0.5}, Named, func(ctx *Context, o DropoutOptions) (graph.Layer, Shape, error) {
		return &graph.Dropout{Name: ctx.Name, P: o.P, Seed: o.Seed}, ctx.In, nil
	}))
	Register("groupnorm", Define(GroupNormOptions{Groups: 32, Eps: 1e-5}, Named, func(ctx *Context, o GroupNormOptions) (graph.Layer, Shape, error) {
		c := ctx.In.Channels()
		if c%o.Groups != 0 {
			return nil, nil, fmt.Errorf("%d groups do not divide %d channels", o.Groups, c)
		}
		return &graph.GroupNorm{Name: ctx.Name, C: c, Groups: o.Groups, Eps: o.Eps}, ctx.In, nil
	}))
	Register("layernorm", Define(LayerNormOptions{Eps: 1e-5}, Named, func(ctx *Context, o LayerNormOptions) (graph.Layer, Shape, error) {
		return &graph.LayerNorm{Name: ctx.Name, C: ctx.In.Channels(), Eps: o.Eps}, ctx.In, nil
	}))
	Register("maxpool2d", Define(PoolOptions{Kernel: 2}, false, func(ctx *Context, o PoolOptions) (graph.Layer, Shape, error) {
		out, err := o.out(ctx.In)
		return graph.MaxPool2d{Kernel: o.Kernel, Stride: o.Stride}, out, err
	}))
	Register("avgpool2d", Define(PoolOptions{Kernel: 2}, false, func(ctx *Context, o PoolOptions) (graph.Layer, Shape, error) {
		out, err := o.out(ctx.In)
		return graph.AvgPool2d{Kernel: o.Kernel, Stride: o.Stride}, out, err
	}))
	Register("global_avgpool", Define(struct{}{}, false, func(ctx *Context, _ struct{}) (graph.Layer, Shape, error) {
		if _, _, c, err := ctx.In.Image(); err != nil {
			return nil, nil, err
		} else {
			return graph.GlobalAvgPool{}, Shape{c}, nil
		}
	}))
}

// LinearOptions are the options of linear, the weighted layer h = x·W (+ b).
type LinearOptions struct {
	Out  int    `yaml:"out"`  // output features, ≥ 1
	Bias bool   `yaml:"bias"` // default true
	Init string `yaml:"init"` // registered initialiser; default the model's
}

// Check implements registry.Checker.
func (o LinearOptions) Check() []Problem {
	var ps []Problem
	if o.Out < 1 {
		ps = append(ps, Problem{Field: "out", Msg: fmt.Sprintf("must be >= 1, got %d", o.Out)})
	}
	return append(ps, checkInit(o.Init)...)
}

func checkInit(name string) []Problem {
	if name == "" {
		return nil
	}
	if _, err := graph.Initializers.Lookup(name); err != nil {
		return []Problem{{Field: "init", Msg: err.Error()}}
	}
	return nil
}

func buildLinear(ctx *Context, o LinearOptions) (graph.Layer, Shape, error) {
	d, err := ctx.In.Features()
	if err != nil {
		return nil, nil, err
	}
	init, err := ctx.Initializer(o.Init)
	if err != nil {
		return nil, nil, err
	}
	return &graph.Linear{Name: ctx.Name, In: d, Out: o.Out, Bias: o.Bias, Init: init}, Shape{o.Out}, nil
}

// Conv2dOptions are the options of conv2d, a square-kernel 2-D convolution over
// channels-last images.
type Conv2dOptions struct {
	Out    int    `yaml:"out"`    // output channels, ≥ 1
	Kernel int    `yaml:"kernel"` // kernel height and width; default 3
	Stride int    `yaml:"stride"` // default 1
	Pad    int    `yaml:"pad"`    // zeros on every border; default −1: kernel/2 ("same" at stride 1)
	Bias   bool   `yaml:"bias"`   // default true
	Init   string `yaml:"init"`   // registered initialiser; default the model's
	// Groups splits the channels into independent convolutions (out and the input channels
	// divisible by it; the input channels for depthwise). Each group is its own block of the
	// Fisher matrix and is recorded as its own layer, <name>.g1 … <name>.g<groups>. Default 1.
	Groups int `yaml:"groups"`
	// Mode is what the input hook records, patches or channels; default the analysis's
	// conv_mode.
	Mode string `yaml:"mode"`
}

// Check implements registry.Checker.
func (o Conv2dOptions) Check() []Problem {
	var ps []Problem
	for _, f := range []struct {
		key    string
		v, min int
	}{{"out", o.Out, 1}, {"kernel", o.Kernel, 1}, {"stride", o.Stride, 1}, {"pad", o.Pad, -1}, {"groups", o.Groups, 1}} {
		if f.v < f.min {
			ps = append(ps, Problem{Field: f.key, Msg: fmt.Sprintf("must be >= %d, got %d", f.min, f.v)})
		}
	}
	if err := graph.ConvMode(o.Mode).Valid(); err != nil {
		ps = append(ps, Problem{Field: "mode", Msg: err.Error()})
	}
	return append(ps, checkInit(o.Init)...)
}

func buildConv2d(ctx *Context, o Conv2dOptions) (graph.Layer, Shape, error) {
	h, w, c, err := ctx.In.Image()
	if err != nil {
		return nil, nil, err
	}
	pad := o.Pad
	if pad < 0 {
		pad = o.Kernel / 2
	}
	oh, ow := (h+2*pad-o.Kernel)/o.Stride+1, (w+2*pad-o.Kernel)/o.Stride+1
	if h+2*pad < o.Kernel || w+2*pad < o.Kernel {
		return nil, nil, fmt.Errorf("a %d×%d kernel with padding %d does not fit", o.Kernel, o.Kernel, pad)
	}
	if c%o.Groups != 0 || o.Out%o.Groups != 0 {
		return nil, nil, fmt.Errorf("%d groups must divide the %d input and %d output channels", o.Groups, c, o.Out)
	}
	init, err := ctx.Initializer(o.Init)
	if err != nil {
		return nil, nil, err
	}
	mode := graph.ConvMode(o.Mode)
	if mode == "" {
		mode = ctx.Defaults.ConvMode
	}
	return &graph.Conv2d{Name: ctx.Name, In: c, Out: o.Out, KH: o.Kernel, KW: o.Kernel, Stride: o.Stride, Pad: pad,
		Bias: o.Bias, Init: init, Mode: mode, Groups: o.Groups}, Shape{oh, ow, o.Out}, nil
}

// BatchNormOptions are the options of batchnorm, over the last dimension (image channels, or
// features).
type BatchNormOptions struct {
	Momentum float64 `yaml:"momentum"` // running-statistics momentum in (0, 1]; 0: the model's bn_momentum
	Eps      float64 `yaml:"eps"`      // > 0; 0: the model's bn_eps
}

// Check implements registry.Checker.
func (o BatchNormOptions) Check() []Problem {
	var ps []Problem
	if !(o.Momentum >= 0 && o.Momentum <= 1) {
		ps = append(ps, Problem{Field: "momentum", Msg: fmt.Sprintf("must be in (0, 1], or 0 for the model's bn_momentum; got %g", o.Momentum)})
	}
	if !(o.Eps >= 0) || o.Eps > 1e300 {
		ps = append(ps, Problem{Field: "eps", Msg: fmt.Sprintf("must be a finite number > 0, or 0 for the model's bn_eps; got %g", o.Eps)})
	}
	return ps
}

func buildBatchNorm(ctx *Context, o BatchNormOptions) (graph.Layer, Shape, error) {
	if len(ctx.In) != 1 && len(ctx.In) != 3 {
		return nil, nil, fmt.Errorf("needs features or images, got shape %s", ctx.In)
	}
	m, eps := o.Momentum, o.Eps
	if m == 0 {
		m = ctx.Defaults.BNMomentum
	}
	if eps == 0 {
		eps = ctx.Defaults.BNEps
	}
	return &graph.BatchNorm{Name: ctx.Name, C: ctx.In.Channels(), Momentum: m, Eps: eps}, ctx.In, nil
}

func buildFlatten(ctx *Context, _ struct{}) (graph.Layer, Shape, error) {
	if len(ctx.In) == 1 {
		return nil, ctx.In, nil
	}
	return graph.Flatten{}, Shape{ctx.In.Size()}, nil
}

// PoolOptions are the options of maxpool2d and avgpool2d: a square window.
type PoolOptions struct {
	Kernel int `yaml:"kernel"` // window height and width; default 2
	Stride int `yaml:"stride"` // default 0: the kernel
}

// Check implements registry.Checker.
func (o PoolOptions) Check() []Problem {
	var ps []Problem
	if o.Kernel < 1 {
		ps = append(ps, Problem{Field: "kernel", Msg: fmt.Sprintf("must be >= 1, got %d", o.Kernel)})
	}
	if o.Stride < 0 {
		ps = append(ps, Problem{Field: "stride", Msg: fmt.Sprintf("must be >= 1, or 0 for the kernel size; got %d", o.Stride)})
	}
	return ps
}

func (o PoolOptions) out(in Shape) (Shape, error) {
	h, w, c, err := in.Image()
	if err != nil {
		return nil, err
	}
	s := o.Stride
	if s == 0 {
		s = o.Kernel
	}
	if o.Kernel > h || o.Kernel > w {
		return nil, fmt.Errorf("a %d×%d window does not fit", o.Kernel, o.Kernel)
	}
	return Shape{(h-o.Kernel)/s + 1, (w-o.Kernel)/s + 1, c}, nil
}

// LeakyReLUOptions are the options of leaky_relu, max(x, slope·x).
type LeakyReLUOptions struct {
	Slope float64 `yaml:"slope"` // ≥ 0; default 0.01
}

// Check implements registry.Checker.
func (o LeakyReLUOptions) Check() []Problem {
	if !(o.Slope >= 0 && o.Slope < 1e300) {
		return []Problem{{Field: "slope", Msg: fmt.Sprintf("must be a finite number >= 0, got %g", o.Slope)}}
	}
	return nil
}

// DropoutOptions are the options of dropout: inverted dropout, seeded by the run's seed, the
// layer's name and seed and a step counter that checkpoints carry, so that runs repeat and
// resume exactly. Evaluation passes the input through; analysis passes (fixed or average
// sources, true-Fisher probes) draw the next training step's masks without advancing the
// counter, so their factors see the network as training does.
type DropoutOptions struct {
	P    float64 `yaml:"p"`    // probability of zeroing an element, in [0, 1); default 0.5
	Seed uint64  `yaml:"seed"` // mixed with the run's seed; default 0
}

// Check implements registry.Checker.
func (o DropoutOptions) Check() []Problem {
	if !(o.P >= 0 && o.P < 1) {
		return []Problem{{Field: "p", Msg: fmt.Sprintf("must be in [0, 1), got %g", o.P)}}
	}
	return nil
}

// GroupNormOptions are the options of groupnorm: per sample, statistics over the positions
// and channels of each group of channels (images or features).
type GroupNormOptions struct {
	Groups int     `yaml:"groups"` // dividing the channels; default 32
	Eps    float64 `yaml:"eps"`    // > 0; default 1e-5
}

// Check implements registry.Checker.
func (o GroupNormOptions) Check() []Problem {
	var ps []Problem
	if o.Groups < 1 {
		ps = append(ps, Problem{Field: "groups", Msg: fmt.Sprintf("must be >= 1, got %d", o.Groups)})
	}
	return append(ps, checkEps(o.Eps)...)
}

// LayerNormOptions are the options of layernorm: per sample and position, statistics over the
// channels (the features of a sample, or the channels of each pixel).
type LayerNormOptions struct {
	Eps float64 `yaml:"eps"` // > 0; default 1e-5
}

// Check implements registry.Checker.
func (o LayerNormOptions) Check() []Problem { return checkEps(o.Eps) }

func checkEps(eps float64) []Problem {
	if !(eps > 0 && eps < 1e300) {
		return []Problem{{Field: "eps", Msg: fmt.Sprintf("must be a finite number > 0, got %g", eps)}}
	}
	return nil
}
