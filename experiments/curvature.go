package experiments

import (
	"fmt"
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
	cfg    config.CurvatureConfig
	seed   uint64
	every  int
	layers []string // weight blocks, in store order
	src    *graph.Store
	store  *graph.Store // float64 copy
	model  *netcurv.Model
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
	n := min(cmpOr(cc.BatchSize, curvBatchSize), trainSet.N)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xc5a7))
	perm := rng.Perm(trainSet.N)[:n]
	x := make([]float32, n*trainSet.D)
	y := make([]int32, n)
	for i, j := range perm {
		copy(x[i*trainSet.D:], trainSet.Row(j))
		y[i] = trainSet.Y[j]
	}
	c := &curvatureAnalyzer{cfg: cc, seed: cfg.Seed, every: cc.Every, src: store,
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

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
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

// records computes the step's curvature records; nil when the analyzer is off or the step is
// not one of its steps. momentum is the optimiser's heavy-ball μ, nil if it has none.
func (c *curvatureAnalyzer) records(step, epoch int, lr float64, momentum *float64) ([]analysis.Record, error) {
	if c == nil || (c.every > 0 && step%c.every != 0) {
		return nil, nil
	}
	c.sync()
	lanczos := curvature.LanczosOptions{K: 1, MaxIter: cmpOr(c.cfg.MaxIter, curvMaxIter), Tol: cmpOr(c.cfg.Tol, curvTol),
		Seed: c.seed ^ uint64(step)}
	fail := func(what string, err error) error {
		return fmt.Errorf("analysis.curvature at step %d: %s: %w", step, what, err)
	}
	var network analysis.Record
	add := func(r *analysis.Record, key string, v any) { *r = append(*r, analysis.Field{Key: key, Value: v}) }

	// Sharpness: λmax of the whole Hessian.
	all, err := c.model.Select()
	if err != nil {
		return nil, fail("parameters", err)
	}
	h, _ := c.model.Hessian(all, netcurv.Options{})
	top, err := curvature.Lanczos(h, lanczos)
	if err != nil {
		return nil, fail("Hessian", err)
	}
	add(&network, "network_hessian_lambda_max", analysis.Float(top.Values[0]))
	add(&network, "network_hessian_matvecs", top.Iterations)
	add(&network, "network_hessian_converged", top.Converged)
	addStats(&network, "network_hessian", h)
	if momentum != nil && lr > 0 {
		// Heavy-ball GD on a quadratic is stable iff η·λmax(H) < 2(1+μ).
		add(&network, "network_stability_threshold", analysis.Float(2*(1+*momentum)/lr))
		add(&network, "network_sharpness_ratio", analysis.Float(lr*top.Values[0]/(2*(1+*momentum))))
	}

	perLayer := make([]analysis.Record, len(c.layers))
	if c.cfg.Preset == config.CurvatureBlocks || c.cfg.Preset == config.CurvatureFull {
		full := c.cfg.Preset == config.CurvatureFull
		blockOpts := lanczos
		blockOpts.K = cmpOr(c.cfg.TopK, curvTopK)
		sums := map[string]float64{}
		maxes := map[string]float64{}
		var efLayers []string
		for i, layer := range c.layers {
			s, err := c.model.Weights(layer)
			if err != nil {
				return nil, fail(layer, err)
			}
			add(&perLayer[i], "params", s.Dim())
			ops := []struct {
				name string
				make func() (curvature.Operator, error)
			}{
				{"hessian", func() (curvature.Operator, error) { return c.model.Hessian(s, netcurv.Options{}) }},
				{"ggn", func() (curvature.Operator, error) { return c.model.GGN(s, netcurv.Options{}) }},
				{"ef", func() (curvature.Operator, error) { return c.model.EF(s) }},
				{"kfac", func() (curvature.Operator, error) { return c.model.KFAC(s) }},
			}
			for _, o := range ops {
				op, err := o.make()
				if err != nil {
					// EF and K-FAC need the layer's input matrix (patches) and K-FAC an
					// ungrouped layer: leave them out of such layers' records.
					if o.name == "ef" || o.name == "kfac" {
						continue
					}
					return nil, fail(layer+" "+o.name, err)
				}
				if o.name == "ef" {
					efLayers = append(efLayers, layer)
				}
				opts := blockOpts
				opts.K = min(opts.K, op.Dim())
				r, err := curvature.Lanczos(op, opts)
				if err != nil {
					return nil, fail(layer+" "+o.name, err)
				}
				add(&perLayer[i], o.name+"_lambda_max", analysis.Float(r.Values[0]))
				add(&perLayer[i], o.name+"_top", r.Values)
				add(&perLayer[i], o.name+"_converged", r.Converged)
				addStats(&perLayer[i], o.name, op)
				if k, ok := op.(*netcurv.KFAC); ok {
					add(&perLayer[i], "kfac_positions", k.Positions())
				}
				sums[o.name] += r.Values[0]
				if v, ok := maxes[o.name]; !ok || r.Values[0] > v {
					maxes[o.name] = r.Values[0]
				}
				if full && o.name != "kfac" {
					tr, err := curvature.Hutchinson(op, cmpOr(c.cfg.Probes, curvProbes), lanczos.Seed)
					if err != nil {
						return nil, fail(layer+" "+o.name+" trace", err)
					}
					add(&perLayer[i], o.name+"_trace", analysis.Float(tr.Value))
					add(&perLayer[i], o.name+"_trace_stderr", analysis.Float(tr.StdErr))
				}
			}
		}
		for _, name := range []string{"hessian", "ggn", "ef"} {
			if _, ok := maxes[name]; !ok {
				continue
			}
			add(&network, "network_"+name+"_block_lambda_max_max", analysis.Float(maxes[name]))
			add(&network, "network_"+name+"_block_lambda_max_sum", analysis.Float(sums[name]))
		}
		// The whole GGN and EF of the weights the blocks cover (block bounds:
		// max_k λmax(M_kk) ≤ λmax(M) ≤ Σ_k λmax(M_kk) for PSD M).
		weights, err := c.model.Weights(c.layers...)
		if err != nil {
			return nil, fail("weights", err)
		}
		g, err := c.model.GGN(weights, netcurv.Options{})
		if err != nil {
			return nil, fail("GGN", err)
		}
		wholes := []struct {
			name string
			op   curvature.Operator
		}{{"ggn", g}}
		if len(efLayers) == len(c.layers) {
			ef, err := c.model.EF(weights)
			if err != nil {
				return nil, fail("EF", err)
			}
			wholes = append(wholes, struct {
				name string
				op   curvature.Operator
			}{"ef", ef})
		}
		for _, w := range wholes {
			r, err := curvature.Lanczos(w.op, lanczos)
			if err != nil {
				return nil, fail(w.name, err)
			}
			add(&network, "network_"+w.name+"_lambda_max", analysis.Float(r.Values[0]))
		}
		if full {
			probes := cmpOr(c.cfg.Probes, curvProbes)
			for _, w := range append(wholes, struct {
				name string
				op   curvature.Operator
			}{"hessian", h}) {
				tr, err := curvature.Hutchinson(w.op, probes, lanczos.Seed)
				if err != nil {
					return nil, fail(w.name+" trace", err)
				}
				add(&network, "network_"+w.name+"_trace", analysis.Float(tr.Value))
				add(&network, "network_"+w.name+"_trace_stderr", analysis.Float(tr.StdErr))
			}
			d, err := curvature.SLQ(h, probes, cmpOr(c.cfg.Nodes, curvNodes), lanczos.Seed)
			if err != nil {
				return nil, fail("Hessian density", err)
			}
			add(&network, "network_hessian_density_nodes", d.Nodes)
			add(&network, "network_hessian_density_weights", d.Weights)
		}
	}

	out := make([]analysis.Record, len(c.layers))
	for i, layer := range c.layers {
		out[i] = append(analysis.Record{{Key: "step", Value: step}, {Key: "epoch", Value: epoch},
			{Key: "layer", Value: layer}, {Key: "factor", Value: FactorCurvature}}, perLayer[i]...)
		out[i] = append(out[i], network...)
	}
	return out, nil
}
