package netcurv

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// KFAC is K-FAC's approximation of one weighted layer's empirical Fisher block on the model's
// batch, as an operator on the layer's weight (d × m, row-major):
//
//	v ↦ T·(Σx ⊗ Σ∇h) v = T · vec(Σx V Σ∇h),  Σx = XᵀX/rows,  Σ∇h = GᵀG/rows,
//
// with X, G the hooks' captures (rows = N·T; T the output positions of a convolution, 1 for a
// linear layer). Σx and Σ∇h are the analysis's factors; the factor T makes the operator
// comparable with the exact block [EF]: for a convolution EF sums the T positions' gradients
// of a sample, K-FAC for convolutions (Grosse & Martens 2016) approximates it by T·Σx ⊗ Σ∇h.
// Its eigenvalues are T·λi(Σx)·λj(Σ∇h).
type KFAC struct {
	op
	sx, sg *mat.SymDense
	t      float64
	d, m   int
}

// KFAC returns the K-FAC operator of the weight of one weighted layer (a selection of one
// weight; a grouped convolution is refused: its block is block-diagonal over groups).
func (m *Model) KFAC(s *Selection) (*KFAC, error) {
	if len(s.Params) != 1 {
		return nil, fmt.Errorf("netcurv: K-FAC is one layer's block; the selection has %d parameters", len(s.Params))
	}
	caps, err := m.capture()
	if err != nil {
		return nil, err
	}
	p := s.Params[0]
	pts := points(p, caps)
	if len(pts) != 1 || pts[0] != p.Layer {
		return nil, fmt.Errorf("netcurv: %s is not the weight of an ungrouped weighted layer", p.Name)
	}
	c := caps[p.Layer]
	if shape := p.Value.Shape(); len(shape) != 2 || shape[0] != c.d || shape[1] != c.m {
		return nil, fmt.Errorf("netcurv: layer %s records %d × %d factors for a %v weight", p.Layer, c.d, c.m, shape)
	}
	k := &KFAC{op: op{m: m, s: s}, t: float64(c.rows / m.n), d: c.d, m: c.m}
	k.sx, k.sg = mat.NewSymDense(c.d, nil), mat.NewSymDense(c.m, nil)
	k.sx.SymOuterK(1/float64(c.rows), mat.NewDense(c.rows, c.d, c.x).T())
	k.sg.SymOuterK(1/float64(c.rows), mat.NewDense(c.rows, c.m, c.g).T())
	return k, nil
}

// Factors returns Σx and Σ∇h.
func (k *KFAC) Factors() (sx, sg *mat.SymDense) { return k.sx, k.sg }

// Positions returns T.
func (k *KFAC) Positions() int { return int(k.t) }

// Apply implements curvature.Operator.
func (k *KFAC) Apply(dst, v []float64) {
	if !k.check(dst, v) {
		return
	}
	var xv mat.Dense
	xv.Mul(k.sx, mat.NewDense(k.d, k.m, v))
	out := mat.NewDense(k.d, k.m, dst)
	out.Mul(&xv, k.sg)
	out.Scale(k.t, out)
}
