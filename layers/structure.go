package layers

import (
	"fmt"
	"strconv"

	"github.com/lwca/lwca/graph"
)

// The structural types: blocks of layers, repeated blocks and residual blocks.
func init() {
	Register("sequential", Define(SequentialOptions{}, false, func(ctx *Context, o SequentialOptions) (graph.Layer, Shape, error) {
		return ctx.Build(ctx.Name, o.Layers, ctx.In)
	}))
	Register("repeat", Define(RepeatOptions{N: 1, Start: 1}, Named, buildRepeat))
	Register("residual", Define(ResidualOptions{}, false, buildResidual))
	Register("option_a", Define(struct{}{}, false, buildOptionA))
	Register("option_b", Define(struct{}{}, false, buildOptionB))
}

// SequentialOptions are the options of sequential: a block whose layers' names are prefixed
// by the block's name, when it has one.
type SequentialOptions struct {
	Layers []Spec `yaml:"layers"`
}

// RepeatOptions are the options of repeat: n copies of a block, named <name><k> for k = start,
// start+1, …: repeat {name: block, n: 3} gives block1, block2, block3.
type RepeatOptions struct {
	N      int    `yaml:"n"`     // copies, ≥ 1; default 1
	Start  int    `yaml:"start"` // index of the first copy, ≥ 0; default 1
	Layers []Spec `yaml:"layers"`
}

// Check implements registry.Checker.
func (o RepeatOptions) Check() []Problem {
	var ps []Problem
	if o.N < 1 {
		ps = append(ps, Problem{Field: "n", Msg: fmt.Sprintf("must be >= 1, got %d", o.N)})
	}
	if o.Start < 0 {
		ps = append(ps, Problem{Field: "start", Msg: fmt.Sprintf("must be >= 0, got %d", o.Start)})
	}
	return ps
}

func buildRepeat(ctx *Context, o RepeatOptions) (graph.Layer, Shape, error) {
	var net graph.Sequential
	cur := ctx.In
	for k := o.Start; k < o.Start+o.N; k++ {
		block, out, err := ctx.Build(ctx.Name+strconv.Itoa(k), o.Layers, cur)
		if err != nil {
			return nil, nil, err
		}
		net = append(net, block...)
		cur = out
	}
	return net, cur, nil
}

// ResidualOptions are the options of residual: y = body(x) + shortcut(x). The shortcut is
// the identity when omitted; option_a (subsample and zero-pad channels), option_b (a strided
// 1×1 convolution and BatchNorm, named shortcut and shortcut_bn in the block) or any list of
// layers otherwise. Body and shortcut must give the same shape.
type ResidualOptions struct {
	Body     []Spec `yaml:"body"`
	Shortcut []Spec `yaml:"shortcut"`
}

func buildResidual(ctx *Context, o ResidualOptions) (graph.Layer, Shape, error) {
	if len(o.Body) == 0 {
		return nil, nil, fmt.Errorf("body: needs at least one layer")
	}
	body, out, err := ctx.Build(ctx.Name, o.Body, ctx.In)
	if err != nil {
		return nil, nil, err
	}
	r := graph.Residual{Body: body}
	sout := ctx.In
	if len(o.Shortcut) > 0 {
		sc, s, err := ctx.BuildShortcut(ctx.Name, o.Shortcut, ctx.In, out)
		if err != nil {
			return nil, nil, err
		}
		sout = s
		switch len(sc) {
		case 0: // identity
		case 1:
			r.Shortcut = sc[0]
		default:
			r.Shortcut = sc
		}
	}
	if !sout.Equal(out) {
		what := "the identity shortcut"
		if len(o.Shortcut) > 0 {
			what = "the shortcut"
		}
		return nil, nil, fmt.Errorf("the body gives %s but %s gives %s (shortcut: option_a, option_b or a list of layers maps one to the other)",
			out, what, sout)
	}
	return r, out, nil
}

// shortcutGeometry returns the stride that maps the input image onto the target image.
func shortcutGeometry(ctx *Context) (stride, cin, cout int, err error) {
	if ctx.Target == nil {
		return 0, 0, 0, fmt.Errorf("is a residual shortcut: use it in a residual's shortcut list")
	}
	h, w, cin, err := ctx.In.Image()
	if err != nil {
		return 0, 0, 0, err
	}
	th, tw, cout, err := ctx.Target.Image()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("the body gives %s, not images", ctx.Target)
	}
	for s := 1; s <= max(h, w); s++ {
		if (h+s-1)/s == th && (w+s-1)/s == tw {
			return s, cin, cout, nil
		}
	}
	return 0, 0, 0, fmt.Errorf("no stride maps %s onto the body's %s", ctx.In, ctx.Target)
}

// buildOptionA is He et al.'s parameter-free CIFAR shortcut; the identity when the shapes
// already agree.
func buildOptionA(ctx *Context, _ struct{}) (graph.Layer, Shape, error) {
	s, cin, cout, err := shortcutGeometry(ctx)
	if err != nil {
		return nil, nil, err
	}
	if cout < cin {
		return nil, nil, fmt.Errorf("cannot pad %d channels down to %d", cin, cout)
	}
	if s == 1 && cin == cout {
		return nil, ctx.In, nil
	}
	return graph.ShortcutA{Stride: s, In: cin, Out: cout}, ctx.Target, nil
}

// buildOptionB is the projection shortcut: a strided 1×1 convolution without bias and a
// BatchNorm, named shortcut and shortcut_bn in the block; the identity when the shapes
// already agree.
func buildOptionB(ctx *Context, _ struct{}) (graph.Layer, Shape, error) {
	s, cin, cout, err := shortcutGeometry(ctx)
	if err != nil {
		return nil, nil, err
	}
	if s == 1 && cin == cout {
		return nil, ctx.In, nil
	}
	specs := []Spec{
		New("conv2d", "shortcut", func(o *Conv2dOptions) { o.Out, o.Kernel, o.Stride, o.Pad, o.Bias = cout, 1, s, 0, false }),
		New[struct{}]("batchnorm", "shortcut_bn", nil),
	}
	net, out, err := ctx.Build(ctx.Block, specs, ctx.In)
	return net, out, err
}
