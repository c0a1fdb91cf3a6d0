package netcurv

import (
	"fmt"

	"github.com/lwca/lwca/graph"
	"gonum.org/v1/gonum/mat"
)

// EF is the exact empirical Fisher block of selected weights, EF = (1/N) Σᵢ vᵢvᵢᵀ, with vᵢ
// sample i's weight gradient: for a weighted layer h = x·W (W: d × m, vectorised row-major
// like the parameter) vᵢ = vec(Σ_t x_{i,t} g_{i,t}ᵀ), the sum over the T output positions of
// a convolution (T = 1 for a linear layer), with the hooks' x and g = N·∂L/∂h (the
// analysis's per-sample signal; without BatchNorm exactly ∇ℓᵢ, with it the samples interact
// and this is lwca's convention). Over several layers vᵢ is the concatenation. Then
//
//	EF·v = (1/N) Σᵢ sᵢ vᵢ,  sᵢ = vᵢᵀv = Σ_layers Σ_t x_{i,t}ᵀ V g_{i,t},
//
// computed as (1/N) Xᵀ diag(s) G per layer from the row-wise products of X V and G: O(rows·d·m)
// per layer and no d·m × d·m or per-sample gradient matrix. Its layer block is the matrix
// whose spectrum the analysis's kfac_exact_* metrics describe. The captures are taken once,
// at the parameters of the call to [Model.EF], with true labels.
type EF struct {
	op
	blocks []efBlock
}

// efBlock is one hook point's share of a selected weight: columns col … col+m of the d × M
// parameter at vector offset off.
type efBlock struct {
	x, g       *mat.Dense // rows × d, rows × m
	per        int        // rows per sample (T)
	off, col   int
	d, m, cols int // cols: the parameter's M
}

// EF returns the empirical Fisher block of the selected parameters, which must all be weights
// of weighted layers whose hooks record their input matrix (convolutions in patches mode).
func (m *Model) EF(s *Selection) (*EF, error) {
	caps, err := m.capture()
	if err != nil {
		return nil, err
	}
	e := &EF{op: op{m: m, s: s}}
	for i, p := range s.Params {
		shape := p.Value.Shape()
		pts := points(p, caps)
		if p.Role != graph.Weight || len(shape) != 2 || len(pts) == 0 {
			return nil, fmt.Errorf("netcurv: the empirical Fisher needs weights of weighted layers; %s is a %v of shape %v", p.Name, p.Role, shape)
		}
		col := 0
		for _, name := range pts {
			c := caps[name]
			if c.d != shape[0] || c.rows%m.n != 0 || c.rows != len(c.g)/c.m {
				return nil, fmt.Errorf("netcurv: layer %s records %d-wide inputs for a %v weight (a convolution in channels mode?)", name, c.d, shape)
			}
			e.blocks = append(e.blocks, efBlock{x: mat.NewDense(c.rows, c.d, c.x), g: mat.NewDense(c.rows, c.m, c.g),
				per: c.rows / m.n, off: s.Offset(i), col: col, d: c.d, m: c.m, cols: shape[1]})
			col += c.m
		}
		if col != shape[1] {
			return nil, fmt.Errorf("netcurv: layer %s's hooks cover %d of %d output columns", p.Layer, col, shape[1])
		}
	}
	return e, nil
}

// Apply implements curvature.Operator.
func (e *EF) Apply(dst, v []float64) {
	if !e.check(dst, v) {
		return
	}
	n := e.m.n
	s := make([]float64, n)
	for _, b := range e.blocks {
		var xv mat.Dense
		xv.Mul(b.x, b.weights(v))
		rows, _ := xv.Dims()
		for r := range rows {
			s[r/b.per] += mat.Dot(xv.RowView(r), b.g.RowView(r))
		}
	}
	clear(dst)
	for _, b := range e.blocks {
		rows, _ := b.g.Dims()
		sg := mat.NewDense(rows, b.m, nil)
		for r := range rows {
			sr := s[r/b.per] / float64(n)
			for k := range b.m {
				sg.Set(r, k, sr*b.g.At(r, k))
			}
		}
		var out mat.Dense
		out.Mul(b.x.T(), sg)
		for a := range b.d {
			for k := range b.m {
				dst[b.off+a*b.cols+b.col+k] += out.At(a, k)
			}
		}
	}
}

// weights views the block's d × m part of v.
func (b efBlock) weights(v []float64) mat.Matrix {
	full := mat.NewDense(b.d, b.cols, v[b.off:b.off+b.d*b.cols])
	return full.Slice(0, b.d, b.col, b.col+b.m)
}
