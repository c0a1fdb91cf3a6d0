package netcurv

import (
	"fmt"
	"math"
	"slices"

	"github.com/lwca/lwca/curvature/rop"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/hooks"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// Model is a network's loss on one fixed analysis batch as a function of its parameters.
type Model struct {
	store   *graph.Store
	x       []float32
	y       []int32
	n, dim  int
	classes int

	probe *train.Trainer // ∇L and the hooks' captures
	fwd   *program       // logits
	vjp   *program       // logits and Jᵀu
	net   graph.Layer

	exact64 *rop.Program[float64] // built on first use
	exact32 *rop.Program[float32]
}

// capture is a hook point's X (rows × d) and G (rows × m) at the model's parameters.
type capture struct {
	x, g       []float64
	rows, d, m int
}

// New returns the model of net (whose parameters live in store, which must be float64) on the
// batch x (n × dim row-major, n = len(y)) with labels y.
func New(net graph.Layer, store *graph.Store, x []float32, y []int32, dim int) (*Model, error) {
	if store.Dtype != tensor.Float64 {
		return nil, fmt.Errorf("netcurv: the store holds %v; curvature products need float64", store.Dtype)
	}
	n := len(y)
	if n == 0 || dim <= 0 || len(x) != n*dim {
		return nil, fmt.Errorf("netcurv: %d inputs for %d samples of width %d", len(x), n, dim)
	}
	for i, l := range y {
		if l < 0 {
			return nil, fmt.Errorf("netcurv: sample %d has no label (%d)", i, l)
		}
	}
	probe, err := train.NewProbe(net, store, n, dim)
	if err != nil {
		return nil, err
	}
	m := &Model{store: store, x: x, y: y, n: n, dim: dim, probe: probe, classes: probe.Loss().Classes(), net: net}
	if m.fwd, err = newProgram(net, store, n, dim, false); err != nil {
		return nil, err
	}
	if m.vjp, err = newProgram(net, store, n, dim, true); err != nil {
		return nil, err
	}
	return m, nil
}

// exactProgram returns the R-operator program of the network, prepared at the current
// parameters; its error wraps rop.ErrUnsupported when a layer has none.
func (m *Model) exactProgram(single bool) (hvp, error) {
	if single {
		return prepared(&m.exact32, m)
	}
	return prepared(&m.exact64, m)
}

func prepared[T float32 | float64](p **rop.Program[T], m *Model) (hvp, error) {
	if *p == nil {
		q, err := rop.Compile[T](m.net, m.store, m.n, m.dim)
		if err != nil {
			return nil, fmt.Errorf("netcurv: %w", err)
		}
		*p = q
	}
	if err := (*p).Prepare(m.x, m.y); err != nil {
		return nil, fmt.Errorf("netcurv: %w", err)
	}
	return *p, nil
}

// Samples is N, the batch size.
func (m *Model) Samples() int { return m.n }

// Batch returns the batch's inputs and labels (not copies).
func (m *Model) Batch() ([]float32, []int32) { return m.x, m.y }

// Classes is C, the number of logits per sample.
func (m *Model) Classes() int { return m.classes }

// Selection is an ordered set of parameters: the coordinates of an operator's vectors are the
// concatenation of their values, each row-major.
type Selection struct {
	Params []*graph.Param
	offs   []int
	dim    int
}

// Dim is the total number of selected values.
func (s *Selection) Dim() int { return s.dim }

// Offset returns where parameter i of the selection starts in a vector.
func (s *Selection) Offset(i int) int { return s.offs[i] }

// Select returns the named parameters (such as "fc1.weight"), in the order given; no names
// select every parameter in store order.
func (m *Model) Select(names ...string) (*Selection, error) {
	var ps []*graph.Param
	if len(names) == 0 {
		ps = m.store.Params()
	}
	for _, name := range names {
		p := m.store.Param(name)
		if p == nil {
			return nil, fmt.Errorf("netcurv: the store has no parameter %q", name)
		}
		if slices.Contains(ps, p) {
			return nil, fmt.Errorf("netcurv: parameter %q is selected twice", name)
		}
		ps = append(ps, p)
	}
	return newSelection(ps), nil
}

// Weights returns the weight parameters of the named weighted layers, in the order given; no
// names select every weighted layer's weight, in layer order.
func (m *Model) Weights(layers ...string) (*Selection, error) {
	var names []string
	if len(layers) == 0 {
		for _, p := range m.store.Params() {
			if p.Role == graph.Weight {
				names = append(names, p.Name)
			}
		}
	}
	for _, l := range layers {
		names = append(names, l+".weight")
	}
	return m.Select(names...)
}

func newSelection(ps []*graph.Param) *Selection {
	s := &Selection{Params: ps}
	for _, p := range ps {
		s.offs = append(s.offs, s.dim)
		s.dim += p.Value.Size()
	}
	return s
}

// values returns parameter i's data.
func (s *Selection) values(i int) []float64 { return s.Params[i].Value.Data().([]float64) }

// Values returns the selected parameters' current values as one vector.
func (s *Selection) Values() []float64 {
	out := make([]float64, 0, s.dim)
	for i := range s.Params {
		out = append(out, s.values(i)...)
	}
	return out
}

// perturbed runs f with the selected parameters moved to θ + t·v and restores them exactly.
func (s *Selection) perturbed(t float64, v []float64, f func() error) error {
	saved := make([][]float64, len(s.Params))
	for i := range s.Params {
		w := s.values(i)
		saved[i] = slices.Clone(w)
		for j := range w {
			w[j] += t * v[s.offs[i]+j]
		}
	}
	defer func() {
		for i := range s.Params {
			copy(s.values(i), saved[i])
		}
	}()
	return f()
}

// Loss returns L at the current parameters.
func (m *Model) Loss() (float64, error) {
	l, _, err := m.probe.Run(m.x, m.y, false)
	return l, err
}

// Gradient sets dst (length s.Dim()) to ∇_S L at the current parameters.
func (m *Model) Gradient(s *Selection, dst []float64) error {
	if _, _, err := m.probe.Run(m.x, m.y, false); err != nil {
		return err
	}
	return m.gather(s, dst, m.probe.Params(), m.probe.Grad)
}

// gather copies the gradients of the selected parameters out of a program whose parameters
// are params, gradient i given by grad(i).
func (m *Model) gather(s *Selection, dst []float64, params []*graph.Param, grad func(int) (*tensor.Dense, error)) error {
	for i, p := range s.Params {
		k := slices.Index(params, p)
		if k < 0 {
			return fmt.Errorf("netcurv: parameter %s is not in the program", p.Name)
		}
		g, err := grad(k)
		if err != nil {
			return err
		}
		copy(dst[s.offs[i]:s.offs[i]+p.Value.Size()], g.Data().([]float64))
	}
	return nil
}

// Logits sets dst (N × C, row-major) to the logits at the current parameters.
func (m *Model) Logits(dst []float64) error { return m.fwd.logits(m.x, dst, false) }

// logitsPattern is Logits that also returns the activation pattern (see pattern).
func (m *Model) logitsPattern(dst []float64) ([]uint64, error) {
	if err := m.fwd.logits(m.x, dst, true); err != nil {
		return nil, err
	}
	return pattern(m.fwd.hooks), nil
}

// gradientPattern is Gradient that also returns the activation pattern.
func (m *Model) gradientPattern(s *Selection, dst []float64) ([]uint64, error) {
	if _, _, err := m.probe.Run(m.x, m.y, true); err != nil {
		return nil, err
	}
	if err := m.gather(s, dst, m.probe.Params(), m.probe.Grad); err != nil {
		return nil, err
	}
	return pattern(m.probe.Hooks()), nil
}

// pattern returns, as a bitset, where the weighted layers' captured inputs are exactly zero:
// the inactive units of the rectifiers that feed them. Two parameter values with the same
// pattern lie on the same smooth piece of a ReLU network, as far as the hooks can see.
func pattern(set *hooks.Set) []uint64 {
	var bits []uint64
	k := 0
	for _, p := range set.Points() {
		for _, v := range p.X.F64 {
			if k%64 == 0 {
				bits = append(bits, 0)
			}
			if v == 0 {
				bits[k/64] |= 1 << (k % 64)
			}
			k++
		}
	}
	return bits
}

// VJP sets dst (length s.Dim()) to J_Sᵀu = ∇_S Σᵢc u_ic z_ic for u of shape N × C: the
// vector-Jacobian product of the logits, one forward and one backward pass.
func (m *Model) VJP(s *Selection, dst, u []float64) error {
	if err := m.vjp.pullback(m.x, u); err != nil {
		return err
	}
	return m.gather(s, dst, m.vjp.params, m.vjp.grad)
}

// probabilities returns softmax(z) row by row.
func probabilities(z []float64, n, c int) []float64 {
	p := make([]float64, len(z))
	for i := range n {
		row := z[i*c : (i+1)*c]
		mx := slices.Max(row)
		s := 0.0
		for j, v := range row {
			p[i*c+j] = math.Exp(v - mx)
			s += p[i*c+j]
		}
		for j := range row {
			p[i*c+j] /= s
		}
	}
	return p
}

// capture runs the probe once with its hooks on, at the current parameters, and returns
// every hook point's X and per-sample G = N·∂L/∂H in float64.
func (m *Model) capture() (map[string]capture, error) {
	set := m.probe.Hooks()
	if err := set.Select(nil); err != nil {
		return nil, err
	}
	if _, _, err := m.probe.Run(m.x, m.y, true); err != nil {
		return nil, err
	}
	if err := set.Complete(); err != nil {
		return nil, err
	}
	caps := map[string]capture{}
	for _, p := range set.Points() {
		caps[p.Layer] = capture{x: slices.Clone(p.X.Float64()), g: slices.Clone(p.G.Float64()),
			rows: p.X.Rows, d: p.X.Cols, m: p.G.Cols}
	}
	return caps, nil
}

// points returns the hook points that hold the weight p: the layer's own, or its groups'
// <layer>.g1 … in order (a grouped convolution).
func points(p *graph.Param, caps map[string]capture) []string {
	if _, ok := caps[p.Layer]; ok {
		return []string{p.Layer}
	}
	var out []string
	for k := 1; ; k++ {
		name := fmt.Sprintf("%s.g%d", p.Layer, k)
		if _, ok := caps[name]; !ok {
			return out
		}
		out = append(out, name)
	}
}
