package netcurv

import (
	"fmt"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/hooks"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// program is a training-mode graph of the network without the loss (running statistics
// frozen), that gives the logits and, with a cotangent u, the gradient of the linear
// functional Σ u ∘ z: the vector-Jacobian product Jᵀu.
type program struct {
	vm     G.VM
	x      *tensor.Dense
	u      *tensor.Dense // nil: forward only
	z      G.Value
	params []*graph.Param
	nodes  []*G.Node
	hooks  *hooks.Set
	n, dim int
}

func newProgram(net graph.Layer, store *graph.Store, n, dim int, backward bool) (*program, error) {
	g := graph.NewExprGraph()
	b := graph.NewBuilder(g, store, graph.Train, n)
	b.FreezeStats = true
	x := b.Input("input", n, dim)
	z, err := net.Forward(b, x)
	if err != nil {
		return nil, err
	}
	if s := z.Shape(); len(s) != 2 || s[0] != n {
		return nil, fmt.Errorf("netcurv: the network's output has shape %v, want (%d, classes)", s, n)
	}
	p := &program{x: x.Value().(*tensor.Dense), n: n, dim: dim, hooks: b.Hooks}
	G.Read(z, &p.z)
	if !backward {
		p.vm = G.NewTapeMachine(g, G.WithEngine(graph.Engine))
		return p, nil
	}
	u := b.Input("cotangent", z.Shape()...)
	p.u = u.Value().(*tensor.Dense)
	prod, err := G.HadamardProd(z, u)
	if err != nil {
		return nil, err
	}
	s, err := G.Sum(prod)
	if err != nil {
		return nil, err
	}
	for _, sp := range store.Params() {
		if nd := b.ParamNode(sp.Name); nd != nil {
			p.params = append(p.params, sp)
			p.nodes = append(p.nodes, nd)
		}
	}
	if _, err := G.Grad(s, p.nodes...); err != nil {
		return nil, fmt.Errorf("netcurv: building the vector-Jacobian product: %w", err)
	}
	p.vm = G.NewTapeMachine(g, G.BindDualValues(p.nodes...), G.WithEngine(graph.Engine))
	return p, nil
}

func (p *program) run(x []float32) error {
	d := p.x.Data().([]float64)
	for i, v := range x {
		d[i] = float64(v)
	}
	defer p.vm.Reset()
	if err := p.vm.RunAll(); err != nil {
		return fmt.Errorf("netcurv: %w", err)
	}
	return nil
}

// logits runs the forward pass and copies the logits into dst; with capture set, the hooks
// record the weighted layers' inputs.
func (p *program) logits(x []float32, dst []float64, capture bool) error {
	p.hooks.Enable(capture)
	defer p.hooks.Enable(false)
	if err := p.run(x); err != nil {
		return err
	}
	z, ok := p.z.(*tensor.Dense)
	if !ok {
		return fmt.Errorf("netcurv: logits are a %T", p.z)
	}
	copy(dst, z.Data().([]float64))
	return nil
}

// pullback runs forward and backward with cotangent u; the gradients are then in grad.
func (p *program) pullback(x []float32, u []float64) error {
	copy(p.u.Data().([]float64), u)
	// Gradients accumulate across runs in the dual values.
	for i := range p.nodes {
		if g, err := p.grad(i); err == nil {
			g.Zero()
		}
	}
	return p.run(x)
}

// grad returns the gradient of parameter i after pullback.
func (p *program) grad(i int) (*tensor.Dense, error) {
	v, err := p.nodes[i].Grad()
	if err != nil {
		return nil, fmt.Errorf("netcurv: gradient of %s: %w", p.params[i].Name, err)
	}
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("netcurv: gradient of %s is a %T", p.params[i].Name, v)
	}
	return d, nil
}
