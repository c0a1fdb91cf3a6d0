package experiments

import (
	"fmt"
	"math"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/hooks"
	"github.com/lwca/lwca/rundir"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// LayerAnalysis is the conditioning of one weighted layer at one step.
type LayerAnalysis struct {
	Layer                string
	Input, Gradient      analysis.Spectrum
	InputM, GradM, FishM analysis.Metrics
	WeightNorm, GradNorm float64  // ‖W‖_F and ‖∂L/∂W‖_F of the mini-batch loss
	Stability            *float64 // η·λmax(F) / (2(1+μ)); nil without heavy-ball momentum μ
	Fidelity             analysis.Record
}

// conditioner accumulates hook captures into per-layer second moments over one or more passes
// and turns them into factor matrices. Its moment buffers are reused between analysis steps.
//
// A factor with fewer rows than dimensions (a 785-input layer on a 128-sample batch) is
// rank-deficient, and on a single pass it is formed as the small Gram matrix of its rows
// instead: same non-zero eigenvalues, a fraction of the cost (see analysis.Gram).
//
// Over several passes (a window of training steps) a factor whose pooled rows still number
// fewer than its dimensions keeps the rows themselves and is formed as their Gram matrix too.
type conditioner struct {
	ps       []float64
	opts     analysis.FactorOptions
	solver   analysis.EigenSolver
	moments  map[string]*layerMoments
	order    []string
	selected map[string]bool // nil: every layer
	noGram   bool            // always form d×d factors (tests compare both routes)
	passes   int             // passes the current accumulation expects
	// pool keeps every pass's rows and leaves forming the factors to solve (source window):
	// the training path then only copies, and a concurrent analysis forms and solves the
	// factors beside training.
	pool bool
}

type layerMoments struct {
	x, g         *analysis.Moment
	gx, gg       *mat.SymDense // Gram matrices of a single pass, used instead of x, g when set
	rowsX, rowsG *pooledRows   // rows of several passes kept for their Gram matrix; nil: moments
	used         bool
}

// pooledRows collects the captured rows of several passes, in pass order.
type pooledRows struct {
	rows, cols int
	passes     int // expected: the first pass allocates room for all of them
	f32        []float32
	f64        []float64
}

func (r *pooledRows) add(m *hooks.Matrix) {
	r.rows += m.Rows
	r.cols = m.Cols
	n := m.Rows * m.Cols
	if m.F32 != nil {
		if r.f32 == nil {
			r.f32 = make([]float32, 0, max(r.passes, 1)*n)
		}
		r.f32 = append(r.f32, m.F32[:n]...)
	} else {
		if r.f64 == nil {
			r.f64 = make([]float64, 0, max(r.passes, 1)*n)
		}
		r.f64 = append(r.f64, m.F64[:n]...)
	}
}

func (r *pooledRows) matrix() *hooks.Matrix {
	return &hooks.Matrix{Rows: r.rows, Cols: r.cols, F32: r.f32, F64: r.f64}
}

// factor forms the factor of the rows: their Gram matrix when they are fewer than the
// factor's dimension dim (the same non-zero spectrum), else their dim×dim second moment.
func (r *pooledRows) factor(dim int, noGram bool, opts analysis.FactorOptions) *mat.SymDense {
	if !noGram && r.rows < dim {
		return gram(r.matrix(), opts)
	}
	m := r.withoutZeroColumns()
	mo := analysis.NewMoment(m.Cols)
	mo.SetAutoShift(opts.Centered)
	addMatrix(mo, m)
	return mo.Matrix(opts)
}

// withoutZeroColumns returns the rows without the columns that are zero in every row. Each
// such column is a zero row and column of the second moment, centred or not: an exact zero
// eigenvalue, which padding the spectrum to the factor's dimension restores. Leaving them out
// before the moment is formed saves their share of the product as well as of the
// eigen-decomposition (MNIST's pixels that no image of the window lights).
func (r *pooledRows) withoutZeroColumns() *hooks.Matrix {
	m := r.matrix()
	if r.f32 != nil {
		if keep := nonzeroColumns(r.f32, r.rows, r.cols); keep != nil {
			m.F32, m.Cols = compactColumns(r.f32, r.rows, r.cols, keep), len(keep)
		}
	} else if keep := nonzeroColumns(r.f64, r.rows, r.cols); keep != nil {
		m.F64, m.Cols = compactColumns(r.f64, r.rows, r.cols, keep), len(keep)
	}
	return m
}

// nonzeroColumns lists the columns of the rows×cols row-major data with a non-zero value; nil
// when every column has one, or none has (the factor stays as it is).
func nonzeroColumns[T float32 | float64](data []T, rows, cols int) []int {
	lit := make([]bool, cols)
	for i := range rows {
		for j, v := range data[i*cols : (i+1)*cols] {
			if v != 0 {
				lit[j] = true
			}
		}
	}
	keep := make([]int, 0, cols)
	for j, l := range lit {
		if l {
			keep = append(keep, j)
		}
	}
	if len(keep) == cols || len(keep) == 0 {
		return nil
	}
	return keep
}

// compactColumns copies the columns keep of the rows×cols row-major data, in order.
func compactColumns[T float32 | float64](data []T, rows, cols int, keep []int) []T {
	out := make([]T, rows*len(keep))
	for i := range rows {
		row, dst := data[i*cols:(i+1)*cols], out[i*len(keep):(i+1)*len(keep)]
		for k, j := range keep {
			dst[k] = row[j]
		}
	}
	return out
}

// gramRoute reports whether a factor of dim dimensions, fed rows rows per pass over passes
// passes, is better formed from its rows: fewer rows than dimensions.
func (c *conditioner) gramRoute(rows, dim int) bool {
	return !c.noGram && c.passes*rows < dim
}

func newConditioner(ps []float64, layers []string, opts analysis.FactorOptions) *conditioner {
	c := &conditioner{ps: ps, opts: opts, solver: analysis.DefaultSolver, moments: map[string]*layerMoments{}}
	if len(layers) > 0 {
		c.selected = map[string]bool{}
		for _, l := range layers {
			c.selected[l] = true
		}
	}
	return c
}

// selectLayers restricts set's captures to the analysed layers; a name the network does not
// have is an error.
func (c *conditioner) selectLayers(set *hooks.Set) error {
	names := make([]string, 0, len(c.selected))
	for name := range c.selected {
		names = append(names, name)
	}
	if err := set.Select(names); err != nil {
		return fmt.Errorf("analysis.layers: %w", err)
	}
	return nil
}

// begin starts a new accumulation over the given number of passes.
func (c *conditioner) begin(passes int) {
	c.order = c.order[:0]
	c.passes = max(passes, 1)
	for _, m := range c.moments {
		m.x.Reset()
		m.g.Reset()
		m.gx, m.gg, m.rowsX, m.rowsG, m.used = nil, nil, nil, nil, false
	}
}

// add accumulates the captures of one pass.
func (c *conditioner) add(set *hooks.Set) error {
	gopts := analysis.FactorOptions{Centered: c.opts.Centered}
	for _, p := range set.Points() {
		if c.selected != nil && !c.selected[p.Layer] {
			continue
		}
		if !p.X.Valid() || !p.G.Valid() {
			return fmt.Errorf("analysis: layer %s has no capture", p.Layer)
		}
		m := c.moments[p.Layer]
		if m == nil || m.x.Dim() != p.X.Cols || m.g.Dim() != p.G.Cols {
			m = &layerMoments{x: analysis.NewMoment(p.X.Cols), g: analysis.NewMoment(p.G.Cols)}
			if c.opts.Centered {
				m.x.SetAutoShift(true)
				m.g.SetAutoShift(true)
			}
			c.moments[p.Layer] = m
		}
		if !m.used {
			c.order = append(c.order, p.Layer)
			m.used = true
			// Fresh buffers: the previous accumulation's may still be in a job being solved.
			if c.pool || (c.passes > 1 && c.gramRoute(p.X.Rows, analysis.FactorDim(p.X.Cols, c.opts))) {
				m.rowsX = &pooledRows{passes: c.passes}
			}
			if c.pool || (c.passes > 1 && c.gramRoute(p.G.Rows, p.G.Cols)) {
				m.rowsG = &pooledRows{passes: c.passes}
			}
		}
		switch {
		case m.rowsX != nil:
			m.rowsX.add(&p.X)
		case c.passes == 1 && c.gramRoute(p.X.Rows, analysis.FactorDim(p.X.Cols, c.opts)):
			m.gx = gram(&p.X, c.opts)
		default:
			addMatrix(m.x, &p.X)
		}
		switch {
		case m.rowsG != nil:
			m.rowsG.add(&p.G)
		case c.passes == 1 && c.gramRoute(p.G.Rows, p.G.Cols):
			m.gg = gram(&p.G, gopts)
		default:
			addMatrix(m.g, &p.G)
		}
	}
	return nil
}

func addMatrix(mo *analysis.Moment, m *hooks.Matrix) {
	if m.F32 != nil {
		mo.AddRows32(m.F32, m.Rows, 1)
	} else {
		mo.AddRows64(m.F64, m.Rows, 1)
	}
}

func gram(m *hooks.Matrix, opts analysis.FactorOptions) *mat.SymDense {
	if m.F32 != nil {
		return analysis.Gram(m.F32, m.Rows, m.Cols, 1, opts)
	}
	return analysis.Gram(m.F64, m.Rows, m.Cols, 1, opts)
}

// factorJob is one layer's factor matrices, detached from the conditioner's buffers so that
// their eigen-decomposition can run while training goes on. A matrix smaller than its
// factor's dimension is a Gram matrix whose spectrum is padded with zeros.
type factorJob struct {
	layer      string
	sx, sg     *mat.SymDense
	rowsX      *pooledRows // formed into sx by solve when sx is nil
	rowsG      *pooledRows
	dimX, dimG int
	wNorm      float64
	gNorm      float64
}

// jobs returns the accumulated factors of every analysed layer, in network order, with each
// layer's ‖W‖ and ‖∂L/∂W‖ from norms. The gradient factor is never given the bias coordinate
// (it belongs to the input side).
func (c *conditioner) jobs(norms func(layer string) (w, g float64)) []factorJob {
	gopts := analysis.FactorOptions{Centered: c.opts.Centered}
	out := make([]factorJob, 0, len(c.order))
	for _, l := range c.order {
		m := c.moments[l]
		j := factorJob{layer: l, sx: m.gx, sg: m.gg, dimX: analysis.FactorDim(m.x.Dim(), c.opts), dimG: m.g.Dim()}
		j.wNorm, j.gNorm = norms(l)
		j.rowsX, j.rowsG = m.rowsX, m.rowsG
		if j.sx == nil && j.rowsX == nil {
			j.sx = m.x.Matrix(c.opts)
		}
		if j.sg == nil && j.rowsG == nil {
			j.sg = m.g.Matrix(gopts)
		}
		out = append(out, j)
	}
	return out
}

// solve computes spectra and metrics of a job.
// momentum is the optimiser's heavy-ball μ; nil leaves the stability ratio out.
func (c *conditioner) solve(j factorJob, lr float64, momentum *float64) (LayerAnalysis, error) {
	la := LayerAnalysis{Layer: j.layer, WeightNorm: j.wNorm, GradNorm: j.gNorm}
	if j.sx == nil {
		j.sx = j.rowsX.factor(j.dimX, c.noGram, c.opts)
	}
	if j.sg == nil {
		j.sg = j.rowsG.factor(j.dimG, c.noGram, analysis.FactorOptions{Centered: c.opts.Centered})
	}
	var err error
	if la.Input, err = analysis.Eigen(j.sx, c.solver); err != nil {
		return la, fmt.Errorf("analysis: %s Σx: %w", j.layer, err)
	}
	if la.Gradient, err = analysis.Eigen(j.sg, c.solver); err != nil {
		return la, fmt.Errorf("analysis: %s Σ∇h: %w", j.layer, err)
	}
	la.Input, la.Gradient = la.Input.Pad(j.dimX), la.Gradient.Pad(j.dimG)
	la.InputM = analysis.Compute(la.Input, c.ps)
	la.GradM = analysis.Compute(la.Gradient, c.ps)
	la.FishM = analysis.Compute(analysis.KroneckerSpectrum(la.Input, la.Gradient), c.ps)
	if momentum != nil {
		la.Stability = new(analysis.StabilityRatio(lr, *momentum, la.FishM.LambdaMax))
	}
	return la, nil
}

// AnalyseCapture computes the conditioning of every layer from the captures of one pass of
// set, as a run's analysis step does, with κ_p at the fractions ps; the norms are NaN and
// there is no stability ratio.
func AnalyseCapture(set *hooks.Set, ps []float64, opts analysis.FactorOptions) ([]LayerAnalysis, error) {
	none := func(string) *tensor.Dense { return nil }
	return newConditioner(ps, nil, opts).analyse(set, none, none, 0, nil)
}

// analyse is the synchronous path: accumulate one capture and solve every layer.
func (c *conditioner) analyse(set *hooks.Set, weight, grad func(layer string) *tensor.Dense, lr float64, momentum *float64) ([]LayerAnalysis, error) {
	c.begin(1)
	if err := c.add(set); err != nil {
		return nil, err
	}
	var out []LayerAnalysis
	for _, j := range c.jobs(tensorNorms(weight, grad)) {
		la, err := c.solve(j, lr, momentum)
		if err != nil {
			return nil, err
		}
		out = append(out, la)
	}
	return out, nil
}

// tensorNorms gives the Frobenius norms of each layer's weight and gradient tensors.
func tensorNorms(weight, grad func(layer string) *tensor.Dense) func(string) (float64, float64) {
	return func(l string) (float64, float64) { return frobenius(weight(l)), frobenius(grad(l)) }
}

func frobenius(t *tensor.Dense) float64 {
	if t == nil {
		return math.NaN()
	}
	s := 0.0
	switch d := t.Data().(type) {
	case []float32:
		for _, v := range d {
			s += float64(v) * float64(v)
		}
	case []float64:
		for _, v := range d {
			s += v * v
		}
	}
	return math.Sqrt(s)
}

// records renders a layer's analysis as conditioning.jsonl records, one per factor.
func (la LayerAnalysis) records(step, epoch int) []analysis.Record {
	head := func(factor string) analysis.Record { return rundir.ConditioningHead(step, epoch, la.Layer, factor) }
	x := append(head(FactorInput), la.InputM.Record()...)
	g := append(head(FactorGradient), la.GradM.Record()...)
	f := append(head(FactorFisher), la.FishM.Record()...)
	f = append(f,
		analysis.Field{Key: "weight_norm", Value: analysis.Float(la.WeightNorm)},
		analysis.Field{Key: "grad_norm", Value: analysis.Float(la.GradNorm)})
	if la.Stability != nil {
		f = append(f, analysis.Field{Key: "stability_ratio", Value: analysis.Float(*la.Stability)})
	}
	f = append(f, la.Fidelity...)
	return []analysis.Record{x, g, f}
}
