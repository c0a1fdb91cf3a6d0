package experiments

import (
	"fmt"
	"math"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/hooks"
	"gorgonia.org/tensor"
)

// Factor names in conditioning records.
const (
	FactorInput    = "x"      // Σx = E[x xᵀ]
	FactorGradient = "grad"   // Σ∇h = E[∇h ∇hᵀ]
	FactorFisher   = "fisher" // F ≈ Σx ⊗ Σ∇h, from the product spectrum
)

// LayerAnalysis is the conditioning of one weighted layer at one step.
type LayerAnalysis struct {
	Layer                string
	Input, Gradient      analysis.Spectrum
	InputM, GradM, FishM analysis.Metrics
	WeightNorm, GradNorm float64 // ‖W‖_F and ‖∂L/∂W‖_F of the mini-batch loss
	Stability            float64 // η·λmax(F) / (2(1+μ))
}

// conditioner turns hook captures into factors, spectra and metrics. Its moment buffers are
// reused from one analysis step to the next.
type conditioner struct {
	ps       []float64
	opts     analysis.FactorOptions
	solver   analysis.EigenSolver
	moments  map[string]*analysis.Moment
	selected map[string]bool // nil: every layer
}

func newConditioner(ps []float64, layers []string) *conditioner {
	c := &conditioner{ps: ps, solver: analysis.DefaultSolver, moments: map[string]*analysis.Moment{}}
	if len(layers) > 0 {
		c.selected = map[string]bool{}
		for _, l := range layers {
			c.selected[l] = true
		}
	}
	return c
}

// checkLayers reports names in the layer selection that the network does not have.
func (c *conditioner) checkLayers(set *hooks.Set) error {
	for name := range c.selected {
		if set.Point(name) == nil {
			var have []string
			for _, p := range set.Points() {
				have = append(have, p.Layer)
			}
			return fmt.Errorf("analysis.layers: the network has no weighted layer %q (it has %v)", name, have)
		}
	}
	return nil
}

func (c *conditioner) moment(key string, m *hooks.Matrix) *analysis.Moment {
	mo := c.moments[key]
	if mo == nil || mo.Dim() != m.Cols {
		mo = analysis.NewMoment(m.Cols)
		c.moments[key] = mo
	}
	mo.Reset()
	if m.F32 != nil {
		mo.AddRows32(m.F32, m.Rows, 1)
	} else {
		mo.AddRows64(m.F64, m.Rows, 1)
	}
	return mo
}

func (c *conditioner) spectrum(key string, m *hooks.Matrix) (analysis.Spectrum, error) {
	mo := c.moment(key, m)
	return analysis.Eigen(mo.Matrix(c.opts), c.solver)
}

// analyse computes every selected layer's factors from the captures of one step. weights and
// grads map a layer to its weight tensor and gradient (for the norms).
func (c *conditioner) analyse(set *hooks.Set, weight, grad func(layer string) *tensor.Dense, lr, momentum float64) ([]LayerAnalysis, error) {
	var out []LayerAnalysis
	for _, p := range set.Points() {
		if c.selected != nil && !c.selected[p.Layer] {
			continue
		}
		if !p.X.Valid() || !p.G.Valid() {
			return nil, fmt.Errorf("analysis: layer %s has no capture", p.Layer)
		}
		la := LayerAnalysis{Layer: p.Layer}
		var err error
		if la.Input, err = c.spectrum(p.Layer+"/x", &p.X); err != nil {
			return nil, fmt.Errorf("analysis: %s Σx: %w", p.Layer, err)
		}
		if la.Gradient, err = c.spectrum(p.Layer+"/g", &p.G); err != nil {
			return nil, fmt.Errorf("analysis: %s Σ∇h: %w", p.Layer, err)
		}
		la.InputM = analysis.Compute(la.Input, c.ps)
		la.GradM = analysis.Compute(la.Gradient, c.ps)
		la.FishM = analysis.Compute(analysis.KroneckerSpectrum(la.Input, la.Gradient), c.ps)
		la.WeightNorm = frobenius(weight(p.Layer))
		la.GradNorm = frobenius(grad(p.Layer))
		la.Stability = analysis.StabilityRatio(lr, momentum, la.FishM.LambdaMax)
		out = append(out, la)
	}
	return out, nil
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
	head := func(factor string) analysis.Record {
		return analysis.Record{{Key: "step", Value: step}, {Key: "epoch", Value: epoch},
			{Key: "layer", Value: la.Layer}, {Key: "factor", Value: factor}}
	}
	x := append(head(FactorInput), la.InputM.Record()...)
	g := append(head(FactorGradient), la.GradM.Record()...)
	f := append(head(FactorFisher), la.FishM.Record()...)
	f = append(f,
		analysis.Field{Key: "weight_norm", Value: analysis.Float(la.WeightNorm)},
		analysis.Field{Key: "grad_norm", Value: analysis.Float(la.GradNorm)},
		analysis.Field{Key: "stability_ratio", Value: analysis.Float(la.Stability)})
	return []analysis.Record{x, g, f}
}
