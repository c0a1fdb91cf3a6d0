// Package train runs lwca networks: a training program (forward, backward, hook captures) and
// an evaluation program (forward only, running statistics) built from the same layers and
// bound to the same parameter tensors, plus the optimiser step over those tensors.
//
//	tr, _ := train.NewTrainer(net, store, 128, 784)
//	loss, correct, _ := tr.Run(x, y)        // one forward+backward; gradients in tr.Grad(i)
//	opt.Step(tr.Params(), tr.Grads(), lr)  // optim.SGD
package train

import (
	"fmt"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/hooks"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// program is a built graph with its machine and its input and loss handles.
type program struct {
	graph *G.ExprGraph
	vm    G.VM
	x     *G.Node
	xT    *tensor.Dense
	ce    *graph.CrossEntropy
	batch int
	dim   int
}

func build(net graph.Layer, store *graph.Store, mode graph.Mode, batch, dim int, freeze bool) (*program, *graph.Builder, *G.Node, error) {
	if batch <= 0 || dim <= 0 {
		return nil, nil, nil, fmt.Errorf("train: batch %d and input width %d must be positive", batch, dim)
	}
	g := graph.NewExprGraph()
	b := graph.NewBuilder(g, store, mode, batch)
	b.FreezeStats = freeze
	x := b.Input("input", batch, dim)
	logits, err := net.Forward(b, x)
	if err != nil {
		return nil, nil, nil, err
	}
	loss, ce, err := graph.SoftmaxCrossEntropy(logits)
	if err != nil {
		return nil, nil, nil, err
	}
	p := &program{graph: g, x: x, xT: x.Value().(*tensor.Dense), ce: ce, batch: batch, dim: dim}
	return p, b, loss, nil
}

// setInput copies a batch (rows × dim, row-major) into the input tensor and sets the labels.
func (p *program) setInput(x []float32, y []int32) error {
	if len(x) != p.batch*p.dim {
		return fmt.Errorf("train: batch of %d values, expected %d×%d", len(x), p.batch, p.dim)
	}
	switch d := p.xT.Data().(type) {
	case []float32:
		copy(d, x)
	case []float64:
		for i, v := range x {
			d[i] = float64(v)
		}
	}
	return p.ce.SetLabels(y)
}

func (p *program) run() error {
	defer p.vm.Reset()
	return p.vm.RunAll()
}

// Trainer is the training program: one Run is a forward and backward pass over a batch.
type Trainer struct {
	program
	params []*graph.Param
	nodes  []*G.Node
	hooks  *hooks.Set
}

// NewTrainer builds the training graph of net for batches of batch samples of dim inputs.
func NewTrainer(net graph.Layer, store *graph.Store, batch, dim int) (*Trainer, error) {
	return newTrainer(net, store, batch, dim, false)
}

// NewProbe builds a second training-mode graph of net that leaves the model untouched: its
// normalisation layers do not update running statistics and its gradients are its own, not
// the training graph's. Analysis passes (true Fisher, a separate analysis batch) run on it.
func NewProbe(net graph.Layer, store *graph.Store, batch, dim int) (*Trainer, error) {
	return newTrainer(net, store, batch, dim, true)
}

func newTrainer(net graph.Layer, store *graph.Store, batch, dim int, freeze bool) (*Trainer, error) {
	p, b, loss, err := build(net, store, graph.Train, batch, dim, freeze)
	if err != nil {
		return nil, err
	}
	t := &Trainer{program: *p, hooks: b.Hooks}
	for _, sp := range store.Params() {
		n := b.ParamNode(sp.Name)
		if n == nil {
			return nil, fmt.Errorf("train: parameter %s is not in the training graph", sp.Name)
		}
		t.params = append(t.params, sp)
		t.nodes = append(t.nodes, n)
	}
	if len(t.nodes) == 0 {
		return nil, fmt.Errorf("train: the network has no parameters")
	}
	if _, err := G.Grad(loss, t.nodes...); err != nil {
		return nil, fmt.Errorf("train: building the backward pass: %w", err)
	}
	t.vm = G.NewTapeMachine(p.graph, G.BindDualValues(t.nodes...), G.WithEngine(graph.Engine))
	return t, nil
}

// Params returns the trained parameters, in store order.
func (t *Trainer) Params() []*graph.Param { return t.params }

// Hooks returns the hook points of the weighted layers.
func (t *Trainer) Hooks() *hooks.Set { return t.hooks }

// Loss returns the loss handle (labels, probabilities) of the training graph.
func (t *Trainer) Loss() *graph.CrossEntropy { return t.ce }

// Grad returns the gradient of the mean loss with respect to parameter i after Run.
func (t *Trainer) Grad(i int) (*tensor.Dense, error) {
	v, err := t.nodes[i].Grad()
	if err != nil {
		return nil, fmt.Errorf("train: gradient of %s: %w", t.params[i].Name, err)
	}
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("train: gradient of %s is a %T", t.params[i].Name, v)
	}
	return d, nil
}

// Grads returns every parameter's gradient after Run, in Params order.
func (t *Trainer) Grads() ([]*tensor.Dense, error) {
	out := make([]*tensor.Dense, len(t.nodes))
	for i := range t.nodes {
		g, err := t.Grad(i)
		if err != nil {
			return nil, err
		}
		out[i] = g
	}
	return out, nil
}

// Run does one forward and backward pass over a batch (x: batch × dim row-major, y: labels)
// and returns the mean loss and the number of correct predictions. When capture is set, the
// hook points record their layers' inputs and per-sample output gradients.
func (t *Trainer) Run(x []float32, y []int32, capture bool) (loss float64, correct int, err error) {
	if err := t.setInput(x, y); err != nil {
		return 0, 0, err
	}
	// Gradients accumulate in the dual values across runs: start every run from zero.
	for i := range t.nodes {
		if g, err := t.Grad(i); err == nil {
			g.Zero()
		}
	}
	t.hooks.Enable(capture)
	defer t.hooks.Enable(false)
	if err := t.run(); err != nil {
		return 0, 0, fmt.Errorf("train: %w", err)
	}
	return t.ce.Loss(), t.ce.Correct(), nil
}

// Evaluator is the forward-only program with running statistics, for test sets.
type Evaluator struct{ program }

// NewEvaluator builds the evaluation graph of net for batches of batch samples.
func NewEvaluator(net graph.Layer, store *graph.Store, batch, dim int) (*Evaluator, error) {
	p, _, _, err := build(net, store, graph.Eval, batch, dim, false)
	if err != nil {
		return nil, err
	}
	p.vm = G.NewTapeMachine(p.graph, G.WithEngine(graph.Engine))
	return &Evaluator{*p}, nil
}

// Batch is the evaluator's batch size.
func (e *Evaluator) Batch() int { return e.batch }

// Evaluate returns the mean loss and accuracy over n samples (x: n × dim row-major), in
// batches; the last partial batch is padded and its padding ignored.
func (e *Evaluator) Evaluate(x []float32, y []int32) (loss, accuracy float64, err error) {
	n := len(y)
	if len(x) != n*e.dim {
		return 0, 0, fmt.Errorf("train: %d values for %d samples of width %d", len(x), n, e.dim)
	}
	xb := make([]float32, e.batch*e.dim)
	yb := make([]int32, e.batch)
	total, correct := 0.0, 0
	for start := 0; start < n; start += e.batch {
		m := min(e.batch, n-start)
		copy(xb, x[start*e.dim:(start+m)*e.dim])
		clear(xb[m*e.dim:])
		copy(yb, y[start:start+m])
		for i := m; i < e.batch; i++ {
			yb[i] = graph.Ignore
		}
		if err := e.setInput(xb, yb); err != nil {
			return 0, 0, err
		}
		if err := e.run(); err != nil {
			return 0, 0, fmt.Errorf("train: evaluation: %w", err)
		}
		total += e.ce.Loss() * float64(m)
		correct += e.ce.Correct()
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("train: nothing to evaluate")
	}
	return total / float64(n), float64(correct) / float64(n), nil
}
