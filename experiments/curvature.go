package experiments

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/curvature"
	"github.com/lwca/lwca/curvature/netcurv"
	"github.com/lwca/lwca/data"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/graph"
	"gorgonia.org/tensor"
)

// FactorCurvature is the factor of the conditioning records that analysis.curvature adds.
const FactorCurvature = "curvature"

// curvatureAnalyzer computes analysis.curvature on a fixed, seeded sample of training samples
// with a float64 copy of the network (the finite-difference products need float64, and the
// training parameters are never perturbed). Its records, one per analysed layer with factor
// "curvature", carry the layer's blocks and the whole network's values (keys network_*).
type curvatureAnalyzer struct {
	cfg      config.CurvatureConfig
	samples  float64 // in the sample its products are computed on
	seed     uint64
	every    int
	layers   []string // weight blocks, in store order
	src      *graph.Store
	store    *graph.Store // float64 copy
	model    *netcurv.Model
	products netcurv.Options // how Hessian and GGN products are computed
	// start is the top Hessian eigenvector of the last curvature step, the next one's
	// Lanczos start vector (nil: random); checkpoints keep it, so that a resumed run computes
	// the same values.
	start []float64
}

// Defaults of analysis.curvature's zero values.
const (
	curvBatchSize = 512
	curvTopK      = 3
	curvMaxIter   = 60
	curvTol       = 1e-6
	curvProbes    = 10
	curvNodes     = 30
)

func newCurvatureAnalyzer(cfg config.Config, net graph.Layer, store *graph.Store, trainSet *data.Set) (*curvatureAnalyzer, error) {
	cc := cfg.Analysis.Curvature
	n := min(cmp.Or(cc.BatchSize, curvBatchSize), trainSet.N)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xc5a7))
	perm := rng.Perm(trainSet.N)[:n]
	x := make([]float32, n*trainSet.D)
	y := make([]int32, n)
	for i, j := range perm {
		copy(x[i*trainSet.D:], trainSet.Row(j))
		y[i] = trainSet.Y[j]
	}
	c := &curvatureAnalyzer{cfg: cc, samples: float64(n), seed: cfg.Seed, every: cc.Every, src: store, products: netcurv.Options{Verify: cc.Verify, Single: true},
		store: graph.NewStore(tensor.Float64, cfg.Seed)}
	var err error
	if c.model, err = netcurv.New(net, c.store, x, y, trainSet.D); err != nil {
		return nil, fmt.Errorf("analysis.curvature: %w", err)
	}
	for _, q := range c.store.Params() {
		if p := store.Param(q.Name); p == nil || q.Value.Size() != p.Value.Size() {
			return nil, fmt.Errorf("analysis.curvature: the float64 copy's parameter %s is not the network's", q.Name)
		}
	}
	for _, p := range store.Params() {
		if q := c.store.Param(p.Name); q == nil || q.Value.Size() != p.Value.Size() {
			return nil, fmt.Errorf("analysis.curvature: parameter %s has no float64 copy", p.Name)
		}
		if p.Role == graph.Weight && (len(cfg.Analysis.Layers) == 0 || slices.Contains(cfg.Analysis.Layers, p.Layer)) {
			c.layers = append(c.layers, p.Layer)
		}
	}
	return c, nil
}

// dim is the number of the network's parameters.
func (c *curvatureAnalyzer) dim() int {
	n := 0
	for _, p := range c.store.Params() {
		n += p.Value.Size()
	}
	return n
}

// addStats records how many of a finite-difference operator's products needed a smaller
// step for a rectifier kink, and how many still crossed one at the smallest step (those
// products, and the spectra computed from them, are unreliable).
func addStats(r *analysis.Record, prefix string, op curvature.Operator) {
	if d, ok := op.(interface{ Stats() netcurv.Stats }); ok {
		st := d.Stats()
		*r = append(*r, analysis.Field{Key: prefix + "_refined", Value: st.Refined},
			analysis.Field{Key: prefix + "_unresolved", Value: st.Unresolved})
	}
}

// sync copies the training parameters and buffers into the float64 store.
func (c *curvatureAnalyzer) sync() {
	copyInto := func(dst, src *tensor.Dense) {
		d := dst.Data().([]float64)
		switch s := src.Data().(type) {
		case []float32:
			for i, v := range s {
				d[i] = float64(v)
			}
		case []float64:
			copy(d, s)
		}
	}
	for _, p := range c.src.Params() {
		copyInto(c.store.Param(p.Name).Value, p.Value)
	}
	for _, b := range c.src.Buffers() {
		if q := c.store.Buffer(b.Name); q != nil {
			copyInto(q.Value, b.Value)
		}
	}
}

// curvStep is the work of one curvature step: its records under construction.
type curvStep struct {
	c        *curvatureAnalyzer
	step     int
	lanczos  curvature.LanczosOptions
	network  analysis.Record   // network_* values, appended to every layer's record
	perLayer []analysis.Record // per analysed layer
}

func (w *curvStep) fail(what string, err error) error {
	return fmt.Errorf("analysis.curvature at step %d: %s: %w", w.step, what, err)
}

func addCurvField(r *analysis.Record, key string, v any) {
	*r = append(*r, analysis.Field{Key: key, Value: v})
}

// prepare copies the training parameters of step into the float64 network, on the training
// path, and returns what computes the step's curvature records from that copy: in the analysis
// worker when the analysis runs beside training, since the copy is the worker's alone until the
// next curvature step. It returns nil when the analyzer is off or the step is not one of its
// steps. momentum is the optimiser's heavy-ball μ, nil if it has none.
func (c *curvatureAnalyzer) prepare(step, epoch int, lr float64, momentum *float64) func() ([]analysis.Record, error) {
	if c == nil || (c.every > 0 && step%c.every != 0) {
		return nil
	}
	c.sync()
	return func() ([]analysis.Record, error) { return c.records(step, epoch, lr, momentum) }
}

// records computes the curvature records of step from the float64 copy of its parameters.
func (c *curvatureAnalyzer) records(step, epoch int, lr float64, momentum *float64) ([]analysis.Record, error) {
	w := &curvStep{c: c, step: step, perLayer: make([]analysis.Record, len(c.layers)),
		lanczos: curvature.LanczosOptions{K: 1, MaxIter: cmp.Or(c.cfg.MaxIter, curvMaxIter), Tol: cmp.Or(c.cfg.Tol, curvTol),
			Seed: c.seed ^ uint64(step)}}
	h, err := w.sharpness(lr, momentum)
	if err != nil {
		return nil, err
	}
	if c.cfg.Preset == config.CurvatureBlocks || c.cfg.Preset == config.CurvatureFull {
		full := c.cfg.Preset == config.CurvatureFull
		efAll, err := w.blocks(full)
		if err != nil {
			return nil, err
		}
		if err := w.wholes(h, efAll, full); err != nil {
			return nil, err
		}
	}
	out := make([]analysis.Record, len(c.layers))
	for i, layer := range c.layers {
		out[i] = append(analysis.Record{{Key: "step", Value: step}, {Key: "epoch", Value: epoch},
			{Key: "layer", Value: layer}, {Key: "factor", Value: FactorCurvature}}, w.perLayer[i]...)
		out[i] = append(out[i], w.network...)
	}
	return out, nil
}

// sharpness records λmax of the whole Hessian and returns the Hessian.
func (w *curvStep) sharpness(lr float64, momentum *float64) (*netcurv.Hessian, error) {
	all, err := w.c.model.Select()
	if err != nil {
		return nil, w.fail("parameters", err)
	}
	h, err := w.c.model.Hessian(all, w.c.products)
	if err != nil {
		return nil, w.fail("Hessian", err)
	}
	// Only the value is recorded, and a Ritz value's error is at most residual²/gap: a
	// residual of √tol·|λ| bounds its relative error by tol·|λ|/gap, in half the steps.
	opts := w.lanczos
	opts.Tol = math.Sqrt(opts.Tol)
	opts.Vectors = true
	if len(w.c.start) == all.Dim() {
		opts.Start = w.c.start
	}
	top, err := curvature.Lanczos(h, opts)
	if err != nil {
		return nil, w.fail("Hessian", err)
	}
	w.c.start = top.Vectors[0]
	addCurvField(&w.network, "network_hessian_lambda_max", analysis.Float(top.Values[0]))
	addCurvField(&w.network, "network_hessian_matvecs", top.Iterations)
	addCurvField(&w.network, "network_hessian_converged", top.Converged)
	addCurvField(&w.network, "network_hessian_exact", h.Exact())
	addStats(&w.network, "network_hessian", h)
	if momentum != nil && lr > 0 {
		// Heavy-ball GD on a quadratic is stable iff η·λmax(H) < 2(1+μ).
		addCurvField(&w.network, "network_stability_threshold", analysis.Float(2*(1+*momentum)/lr))
		addCurvField(&w.network, "network_sharpness_ratio", analysis.Float(lr*top.Values[0]/(2*(1+*momentum))))
	}
	return h, nil
}

// blocks records the top eigenvalues of every analysed layer's H, GGN, EF and K-FAC blocks
// (and with full their traces), and the max and sum of the block λmaxes. It reports whether
// every layer has an EF block.
func (w *curvStep) blocks(full bool) (bool, error) {
	m := w.c.model
	opts := w.lanczos
	opts.K = cmp.Or(w.c.cfg.TopK, curvTopK)
	sums, maxes := map[string]float64{}, map[string]float64{}
	efAll := true
	for i, layer := range w.c.layers {
		s, err := m.Weights(layer)
		if err != nil {
			return false, w.fail(layer, err)
		}
		rec := &w.perLayer[i]
		addCurvField(rec, "params", s.Dim())
		top := map[string]float64{}
		ops := []struct {
			name string
			make func() (curvature.Operator, error)
		}{
			{"hessian", func() (curvature.Operator, error) { return m.Hessian(s, w.c.products) }},
			{"ggn", func() (curvature.Operator, error) { return m.GGN(s, w.c.products) }},
			{"ef", func() (curvature.Operator, error) { return m.EF(s) }},
			{"kfac", func() (curvature.Operator, error) { return m.KFAC(s) }},
		}
		for _, o := range ops {
			op, err := o.make()
			if err != nil {
				// EF and K-FAC need the layer's input matrix (patches) and K-FAC an
				// ungrouped layer: leave them out of such layers' records.
				if o.name == "ef" || o.name == "kfac" {
					efAll = efAll && o.name != "ef"
					continue
				}
				return false, w.fail(layer+" "+o.name, err)
			}
			k := opts
			k.K = min(k.K, op.Dim())
			r, err := curvature.Lanczos(op, k)
			if err != nil {
				return false, w.fail(layer+" "+o.name, err)
			}
			addCurvField(rec, o.name+"_lambda_max", analysis.Float(r.Values[0]))
			addCurvField(rec, o.name+"_top", r.Values)
			addCurvField(rec, o.name+"_converged", r.Converged)
			addStats(rec, o.name, op)
			if kf, ok := op.(*netcurv.KFAC); ok {
				addCurvField(rec, "kfac_positions", kf.Positions())
			}
			top[o.name] = r.Values[0]
			sums[o.name] += r.Values[0]
			if v, ok := maxes[o.name]; !ok || r.Values[0] > v {
				maxes[o.name] = r.Values[0]
			}
			if full && o.name != "kfac" {
				tr, err := curvature.Hutchinson(op, cmp.Or(w.c.cfg.Probes, curvProbes), w.lanczos.Seed)
				if err != nil {
					return false, w.fail(layer+" "+o.name+" trace", err)
				}
				addCurvField(rec, o.name+"_trace", analysis.Float(tr.Value))
				addCurvField(rec, o.name+"_trace_stderr", analysis.Float(tr.StdErr))
			}
		}
		if kf, ok := top["kfac"]; ok {
			if ef, ok := top["ef"]; ok {
				// K-FAC's λmax against the exact EF block's, on the same sample: the
				// fidelity of every layer, convolutions included.
				addCurvField(rec, "kfac_lambda_max_ratio", analysis.Float(kf/ef))
			}
		}
	}
	for _, name := range []string{"hessian", "ggn", "ef"} {
		if _, ok := maxes[name]; ok {
			addCurvField(&w.network, "network_"+name+"_block_lambda_max_max", analysis.Float(maxes[name]))
			addCurvField(&w.network, "network_"+name+"_block_lambda_max_sum", analysis.Float(sums[name]))
		}
	}
	return efAll, nil
}

// wholes records λmax of the GGN and EF of all the analysed layers' weights (block bounds:
// max_k λmax(M_kk) ≤ λmax(M) ≤ Σ_k λmax(M_kk) for PSD M), and with full the traces of those
// and of the Hessian h, and the SLQ densities of all three.
func (w *curvStep) wholes(h *netcurv.Hessian, efAll, full bool) error {
	m := w.c.model
	weights, err := m.Weights(w.c.layers...)
	if err != nil {
		return w.fail("weights", err)
	}
	type named struct {
		name string
		op   curvature.Operator
	}
	g, err := m.GGN(weights, w.c.products)
	if err != nil {
		return w.fail("GGN", err)
	}
	ops := []named{{"ggn", g}}
	if efAll {
		ef, err := m.EF(weights)
		if err != nil {
			return w.fail("EF", err)
		}
		ops = append(ops, named{"ef", ef})
	}
	for _, o := range ops {
		r, err := curvature.Lanczos(o.op, w.lanczos)
		if err != nil {
			return w.fail(o.name, err)
		}
		addCurvField(&w.network, "network_"+o.name+"_lambda_max", analysis.Float(r.Values[0]))
		addStats(&w.network, "network_"+o.name, o.op)
	}
	if !full {
		return nil
	}
	probes := cmp.Or(w.c.cfg.Probes, curvProbes)
	for _, o := range append(ops, named{"hessian", h}) {
		tr, err := curvature.Hutchinson(o.op, probes, w.lanczos.Seed)
		if err != nil {
			return w.fail(o.name+" trace", err)
		}
		addCurvField(&w.network, "network_"+o.name+"_trace", analysis.Float(tr.Value))
		addCurvField(&w.network, "network_"+o.name+"_trace_stderr", analysis.Float(tr.StdErr))
	}
	for _, o := range append([]named{{"hessian", h}}, ops...) {
		d, err := curvature.SLQ(o.op, probes, cmp.Or(w.c.cfg.Nodes, curvNodes), w.lanczos.Seed)
		if err != nil {
			return w.fail(o.name+" density", err)
		}
		addCurvField(&w.network, "network_"+o.name+"_density_nodes", d.Nodes)
		addCurvField(&w.network, "network_"+o.name+"_density_weights", d.Weights)
	}
	return nil
}
