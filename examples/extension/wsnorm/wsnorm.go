// Package wsnorm adds two layer types to lwca, registered for configs exactly as lwca's own:
//
//   - ws_linear, a weighted layer with weight standardisation (Qiao et al. 2019): h = x·Ŵ + b,
//     where each output's weights (a column of W) are standardised over its inputs,
//     Ŵ = (W − mean)/√(var + ε). Its hook point sees x and ∂L/∂h, so lwca analyses its
//     conditioning with no code here: Σx ⊗ Σ∇h approximates the Fisher block of the
//     effective weights Ŵ, the ones the product uses.
//   - rmsnorm, a normalisation without centring or batch statistics (Zhang & Sennrich 2019):
//     y = γ ⊙ x / √(mean(x²) + ε) per sample.
//
// and one architecture, ws_mlp: the MLP of lwca's mlp preset with ws_linear layers and rmsnorm
// before every activation.
package wsnorm

import (
	"fmt"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/layers"
	"github.com/lwca/lwca/nets"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func init() {
	layers.Register("ws_linear", layers.Define(WSLinearOptions{Bias: true, Eps: 1e-5}, layers.Named,
		func(ctx *layers.Context, o WSLinearOptions) (graph.Layer, layers.Shape, error) {
			in, err := ctx.In.Features()
			if err != nil {
				return nil, nil, err
			}
			return &WSLinear{Name: ctx.Name, In: in, Out: o.Out, Bias: o.Bias, Eps: o.Eps}, layers.Shape{o.Out}, nil
		}))
	layers.Register("rmsnorm", layers.Define(RMSNormOptions{Eps: 1e-6}, layers.Named,
		func(ctx *layers.Context, o RMSNormOptions) (graph.Layer, layers.Shape, error) {
			c, err := ctx.In.Features()
			if err != nil {
				return nil, nil, err
			}
			return &RMSNorm{Name: ctx.Name, C: c, Eps: o.Eps}, ctx.In, nil
		}))
	nets.RegisterArch("ws_mlp", nets.Arch{Expand: expandWSMLP})
}

// WSLinearOptions are the options of ws_linear in a config.
type WSLinearOptions struct {
	Out  int     `yaml:"out"`  // output features, ≥ 1
	Bias bool    `yaml:"bias"` // default true
	Eps  float64 `yaml:"eps"`  // added to each column's variance, > 0; default 1e-5
}

// Check reports options out of range; lwca prints each with its file and line.
func (o WSLinearOptions) Check() []layers.Problem {
	var ps []layers.Problem
	if o.Out < 1 {
		ps = append(ps, layers.Problem{Field: "out", Msg: fmt.Sprintf("must be >= 1, got %d", o.Out)})
	}
	if !(o.Eps > 0) {
		ps = append(ps, layers.Problem{Field: "eps", Msg: fmt.Sprintf("must be > 0, got %g", o.Eps)})
	}
	return ps
}

// RMSNormOptions are the options of rmsnorm in a config.
type RMSNormOptions struct {
	Eps float64 `yaml:"eps"` // added to the mean square, > 0; default 1e-6
}

// Check reports options out of range.
func (o RMSNormOptions) Check() []layers.Problem {
	if !(o.Eps > 0) {
		return []layers.Problem{{Field: "eps", Msg: fmt.Sprintf("must be > 0, got %g", o.Eps)}}
	}
	return nil
}

// WSLinear is h = x·Ŵ (+ b) with Ŵ the column-standardised W (In × Out).
type WSLinear struct {
	Name    string
	In, Out int
	Bias    bool
	Eps     float64
}

// Forward implements graph.Layer. The weight and its standardisation are graph nodes, so
// Gorgonia differentiates through them; the hook taps wrap the product's x and h, which is
// all lwca needs to analyse the layer.
func (l *WSLinear) Forward(b *graph.Builder, x *G.Node) (*G.Node, error) {
	if s := x.Shape(); len(s) != 2 || s[1] != l.In {
		return nil, fmt.Errorf("%s: input shape %v, expected (rows, %d)", l.Name, s, l.In)
	}
	hp, err := b.HookPoint(l.Name)
	if err != nil {
		return nil, err
	}
	w, err := b.Param(l.Name, "weight", graph.Weight, []int{l.In, l.Out}, l.In, l.Out, graph.HeNormal)
	if err != nil {
		return nil, err
	}
	ws, err := standardise(b, w, l.Eps)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.Name, err)
	}
	if x, err = b.TapInput(hp, x); err != nil {
		return nil, err
	}
	h, err := G.Mul(x, ws)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.Name, err)
	}
	if l.Bias {
		bias, err := b.Param(l.Name, "bias", graph.Bias, []int{l.Out}, l.In, l.Out, graph.Constant(0))
		if err != nil {
			return nil, err
		}
		if h, err = G.BroadcastAdd(h, bias, nil, []byte{0}); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Name, err)
		}
	}
	return b.TapOutput(hp, h)
}

// standardise returns (w − mean)/√(var + eps), with mean and variance over each column.
func standardise(b *graph.Builder, w *G.Node, eps float64) (*G.Node, error) {
	mean, err := G.Mean(w, 0)
	if err != nil {
		return nil, err
	}
	centred, err := G.BroadcastSub(w, mean, nil, []byte{0})
	if err != nil {
		return nil, err
	}
	sq, err := G.Square(centred)
	if err != nil {
		return nil, err
	}
	variance, err := G.Mean(sq, 0)
	if err != nil {
		return nil, err
	}
	std, err := sqrtPlus(b, variance, eps)
	if err != nil {
		return nil, err
	}
	return G.BroadcastHadamardDiv(centred, std, nil, []byte{0})
}

// sqrtPlus returns √(v + eps).
func sqrtPlus(b *graph.Builder, v *G.Node, eps float64) (*G.Node, error) {
	var c *G.Node
	if b.Dtype() == tensor.Float32 {
		c = G.NewConstant(float32(eps))
	} else {
		c = G.NewConstant(eps)
	}
	sum, err := G.Add(v, c)
	if err != nil {
		return nil, err
	}
	return G.Sqrt(sum)
}

// RMSNorm is y = γ ⊙ x / √(mean(x²) + ε) over the C features of each sample.
type RMSNorm struct {
	Name string
	C    int
	Eps  float64
}

// Forward implements graph.Layer.
func (l *RMSNorm) Forward(b *graph.Builder, x *G.Node) (*G.Node, error) {
	if s := x.Shape(); len(s) != 2 || s[1] != l.C {
		return nil, fmt.Errorf("%s: input shape %v, expected (rows, %d)", l.Name, s, l.C)
	}
	gamma, err := b.Param(l.Name, "scale", graph.Scale, []int{l.C}, l.C, l.C, graph.Constant(1))
	if err != nil {
		return nil, err
	}
	sq, err := G.Square(x)
	if err != nil {
		return nil, err
	}
	ms, err := G.Mean(sq, 1)
	if err != nil {
		return nil, err
	}
	rms, err := sqrtPlus(b, ms, l.Eps)
	if err != nil {
		return nil, err
	}
	y, err := G.BroadcastHadamardDiv(x, rms, nil, []byte{1})
	if err != nil {
		return nil, err
	}
	return G.BroadcastHadamardProd(y, gamma, nil, []byte{0})
}

// expandWSMLP is the ws_mlp architecture: flatten, then depth ws_linear layers fc1 … with
// rmsnorm (rms1 …) and the model's activation between them.
func expandWSMLP(o nets.Options, in layers.Shape, classes int) ([]layers.Spec, error) {
	if o.Depth < 1 || o.Width < 1 {
		return nil, fmt.Errorf("ws_mlp needs depth and width >= 1, got %d and %d", o.Depth, o.Width)
	}
	specs := []layers.Spec{layers.Of("flatten")}
	for i := 1; i <= o.Depth; i++ {
		out := o.Width
		if i == o.Depth {
			out = classes
		}
		specs = append(specs, layers.New("ws_linear", fmt.Sprintf("fc%d", i), func(w *WSLinearOptions) { w.Out, w.Bias = out, o.Bias }))
		if i < o.Depth {
			specs = append(specs, layers.New[RMSNormOptions]("rmsnorm", fmt.Sprintf("rms%d", i), nil), layers.Of(o.Activation))
		}
	}
	return specs, nil
}
