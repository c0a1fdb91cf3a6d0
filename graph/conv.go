package graph

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/lwca/lwca/graph/internal/convkernel"
	"github.com/lwca/lwca/hooks"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ConvMode says what a convolution's input hook records as the layer input x.
type ConvMode string

const (
	// Patches records the patch matrix: one row per sample and output position t holding the
	// kh·kw·C_in inputs the kernel sees there (Grosse & Martens 2016). Σx is then
	// (1/(N·T)) Σ patch patchᵀ, of size kh·kw·C_in.
	Patches ConvMode = "patches"
	// Channels records the input pixels: one row per sample and input position holding its
	// C_in channels (the authors' code). Σx is C_in×C_in, averaged over N·H·W pixels.
	Channels ConvMode = "channels"
)

// Valid reports whether m names a known mode; the empty mode means Patches.
func (m ConvMode) Valid() error {
	switch m {
	case "", Patches, Channels:
		return nil
	}
	return fmt.Errorf("unknown convolution mode %q (expected patches or channels)", string(m))
}

// Conv2d is a 2-D convolution over channels-last input (N, H, W, In) giving (N, OH, OW, Out),
// with OH = (H + 2·Pad − KH)/Stride + 1 and OW likewise.
//
// It is the weighted layer h = P·W on the explicit patch matrix P (N·OH·OW rows of KH·KW·In
// values: for each output position, KH segments of KW·In consecutive input values), with W
// stored (KH·KW·In)×Out, row (u·KW + v)·In + c for kernel offset (u, v) and input channel c.
// Its hook point records X = P (or the input pixels, see Mode) and G = N·∂L/∂h, one row per
// sample and output position: the per-sample gradients g_{i,t} of the mean loss, so that the
// analysis's Σx = XᵀX/rows and Σ∇h = GᵀG/rows are the spatially averaged factors
// (1/(N·T)) Σ_{i,t} of method.md. λmax carries that 1/T convention; condition numbers do not
// depend on it.
//
// With Groups = G > 1, group k = 1…G convolves input channels (k−1)·In/G … k·In/G − 1 into
// output channels (k−1)·Out/G … k·Out/G − 1; W is then (KH·KW·In/G)×Out, column o holding
// the weights of output channel o over its group's channels (row (u·KW + v)·In/G + c). The
// layer's Fisher block is block-diagonal over groups (no weight is shared between groups), so
// each group is a weighted layer of its own: hook point <Name>.g<k> records the group's
// patch matrix (its In/G input channels only) and its Out/G output-gradient columns, and the
// analysis gives each group its own Kronecker factors. The ungrouped layer keeps the single
// hook point <Name>.
//
// For speed the layer is one fused op: the patch matrix is built a few images at a time into
// a cache-sized buffer (or whole, into the hook's X, on capturing runs) and rebuilt in the
// backward pass instead of being stored, and the op hands its captures to the hook point
// (hooks.InputBuffer, hooks.CaptureInput, hooks.CaptureOutputGrad) rather than going through
// tap nodes, which would copy every patch matrix and its gradient each step.
type Conv2d struct {
	Name    string
	In, Out int // input and output channels
	KH, KW  int // kernel height and width
	Stride  int // step in both directions; 0 means 1
	Pad     int // zeros added on every border
	Bias    bool
	Init    Initializer // weight initialiser; default HeNormalFanOut (fan-out = KH·KW·Out)
	Mode    ConvMode    // what the input hook records; default Patches
	// Groups splits the channels into Groups independent convolutions (0 or 1: one; In:
	// depthwise); it must divide In and Out. See the type's comment.
	Groups int
}

// NewConv2d returns a square-kernel convolution without bias, He (fan-out) initialised, whose
// hook records patches.
func NewConv2d(name string, in, out, kernel, stride, pad int) *Conv2d {
	return &Conv2d{Name: name, In: in, Out: out, KH: kernel, KW: kernel, Stride: stride, Pad: pad,
		Init: HeNormalFanOut, Mode: Patches}
}

// convGeom is the shape arithmetic of one convolution.
type convGeom struct {
	n, h, w, c   int // input
	kh, kw, s, p int
	oh, ow, cout int
}

func (g convGeom) rows() int { return g.n * g.oh * g.ow }

func (g convGeom) k() int { return g.kh * g.kw * g.c }

func (g convGeom) pixels() int { return g.n * g.h * g.w }

// direct reports whether the patch matrix is the input itself (1×1 kernel, stride 1, no padding).
func (g convGeom) direct() bool { return g.kh == 1 && g.kw == 1 && g.s == 1 && g.p == 0 }

// adjoint returns the convolution that maps ∂L/∂h to ∂L/∂x when g has stride 1: since
// h[i,j] = Σ_{u,v} x[i−p+u, j−p+v]·W[u,v], x[a,b] meets h[a+p−u, b+p−v], so ∂L/∂x is ∂L/∂h
// convolved with the flipped kernel (channel axes swapped) over padding KH−1−p. ok is false
// for strides, non-square kernels, padding beyond the kernel and direct (1×1) products.
func (g convGeom) adjoint() (a convGeom, ok bool) {
	if g.s != 1 || g.kh != g.kw || g.p > g.kh-1 || g.direct() {
		return convGeom{}, false
	}
	return convGeom{n: g.n, h: g.oh, w: g.ow, c: g.cout, kh: g.kh, kw: g.kw, s: 1, p: g.kh - 1 - g.p,
		oh: g.h, ow: g.w, cout: g.c}, true
}

func (l *Conv2d) geometry(s tensor.Shape) (convGeom, error) {
	if len(s) != 4 || s[3] != l.In {
		return convGeom{}, fmt.Errorf("%s: input shape %v, expected (N, H, W, %d) channels last", l.Name, s, l.In)
	}
	if l.In < 1 || l.Out < 1 || l.KH < 1 || l.KW < 1 || l.Stride < 0 || l.Pad < 0 {
		return convGeom{}, fmt.Errorf("%s: invalid convolution %d→%d kernel %d×%d stride %d pad %d", l.Name, l.In, l.Out, l.KH, l.KW, l.Stride, l.Pad)
	}
	if gr := max(l.Groups, 1); l.Groups < 0 || l.In%gr != 0 || l.Out%gr != 0 {
		return convGeom{}, fmt.Errorf("%s: %d groups must divide both %d input and %d output channels", l.Name, l.Groups, l.In, l.Out)
	}
	g := convGeom{n: s[0], h: s[1], w: s[2], c: s[3], kh: l.KH, kw: l.KW, s: max(l.Stride, 1), p: l.Pad, cout: l.Out}
	g.oh = (g.h+2*g.p-g.kh)/g.s + 1
	g.ow = (g.w+2*g.p-g.kw)/g.s + 1
	if g.h+2*g.p < g.kh || g.w+2*g.p < g.kw {
		return convGeom{}, fmt.Errorf("%s: kernel %d×%d does not fit the padded %d×%d input", l.Name, l.KH, l.KW, g.h+2*g.p, g.w+2*g.p)
	}
	return g, nil
}

// Forward implements Layer.
func (l *Conv2d) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	g, err := l.geometry(x.Shape())
	if err != nil {
		return nil, err
	}
	if err := l.Mode.Valid(); err != nil {
		return nil, fmt.Errorf("%s: %w", l.Name, err)
	}
	mode := l.Mode
	if mode == "" {
		mode = Patches
	}
	init := l.Init
	if init == nil {
		init = HeNormalFanOut
	}
	groups := max(l.Groups, 1)
	names := []string{l.Name}
	if groups > 1 {
		names = names[:0]
		for k := 1; k <= groups; k++ {
			names = append(names, fmt.Sprintf("%s.g%d", l.Name, k))
		}
	}
	points := make([]*hooks.Point, groups)
	for k, name := range names {
		if points[k], err = b.HookPoint(name); err != nil {
			return nil, err
		}
	}
	// A group's weights are a (KH·KW·In/Groups)×(Out/Groups) block: fan-in KH·KW·In/Groups,
	// fan-out KH·KW·Out as PyTorch counts it for grouped convolutions.
	fanIn, fanOut := g.k()/groups, l.KH*l.KW*l.Out
	w, err := b.Param(l.Name, "weight", Weight, []int{fanIn, l.Out}, fanIn, fanOut, init)
	if err != nil {
		return nil, err
	}
	in := G.Nodes{x, w}
	if l.Bias {
		bias, err := b.Param(l.Name, "bias", Bias, []int{l.Out}, fanIn, fanOut, Constant(0))
		if err != nil {
			return nil, err
		}
		in = append(in, bias)
	}
	inputGrad := needsGrad(b, x)
	var op G.Op
	if groups == 1 {
		st := &convState{layer: l.Name, g: g, bias: l.Bias, mode: mode, point: points[0], inputGrad: inputGrad}
		op = &convOp{opBase: opBase{uniqueName("conv", l.Name)}, st: st}
	} else {
		op = newGroupConvOp(l.Name, g, l.Bias, mode, names, points, inputGrad)
	}
	h, err := G.ApplyOp(op, in...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.Name, err)
	}
	return h, nil
}

// needsGrad reports whether x depends on a parameter of b's graph, that is whether the
// backward pass needs ∂L/∂x. A convolution that reads the data directly skips that product.
func needsGrad(b *Builder, x *G.Node) bool {
	params := map[*G.Node]bool{}
	for _, p := range b.ParamNodes() {
		params[p] = true
	}
	seen := map[int64]bool{x.ID(): true}
	queue := []*G.Node{x}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if params[n] {
			return true
		}
		it := b.Graph.From(n.ID())
		for it != nil && it.Next() {
			c, ok := it.Node().(*G.Node)
			if ok && !seen[c.ID()] {
				seen[c.ID()] = true
				queue = append(queue, c)
			}
		}
	}
	return false
}

// convState is shared by a convolution's forward op and its gradient ops.
type convState struct {
	layer     string
	g         convGeom
	bias      bool
	mode      ConvMode
	point     *hooks.Point // nil in evaluation graphs
	inputGrad bool
	// patches is the whole patch matrix ([]float32 or []float64) that a capturing forward
	// pass built in the hook's X, so that the weight gradient need not rebuild it; nil
	// otherwise.
	patches any
}

type convOp struct {
	opBase
	st     *convState
	out    *tensor.Dense
	wt     any                // Wᵀ, reused
	packed convkernel.Weights // W for the direct kernel, reused
}

func (op *convOp) Arity() int {
	if op.st.bias {
		return 3
	}
	return 2
}

func (op *convOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t4, t2 := G.TensorType{Dims: 4, Of: a}, G.TensorType{Dims: 2, Of: a}
	if op.st.bias {
		return hm.NewFnType(t4, t2, G.TensorType{Dims: 1, Of: a}, t4)
	}
	return hm.NewFnType(t4, t2, t4)
}

func (op *convOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	g := op.st.g
	return tensor.Shape{g.n, g.oh, g.ow, g.cout}, nil
}

// convOperands reads a convolution's input, weight and, with bias, its bias, and checks the
// input's and weight's sizes against the layer's.
func convOperands(name string, in []G.Value, inputs, weights int, bias bool) (x, w, b *tensor.Dense, err error) {
	if x, err = values(in[0], name); err != nil {
		return nil, nil, nil, err
	}
	if w, err = values(in[1], name); err != nil {
		return nil, nil, nil, err
	}
	if x.Size() != inputs || w.Size() != weights {
		return nil, nil, nil, fmt.Errorf("%s: input %v and weight %v do not match the layer", name, x.Shape(), w.Shape())
	}
	if bias {
		if b, err = values(in[2], name); err != nil {
			return nil, nil, nil, err
		}
	}
	return x, w, b, nil
}

func (op *convOp) Do(in ...G.Value) (G.Value, error) {
	g := op.st.g
	x, w, bias, err := convOperands(op.name, in, g.pixels()*g.c, g.k()*g.cout, op.st.bias)
	if err != nil {
		return nil, err
	}
	out := reuse(&op.out, x.Dtype(), g.n, g.oh, g.ow, g.cout)
	switch x.Dtype() {
	case tensor.Float32:
		var b []float32
		if bias != nil {
			b = slice32(bias)
		}
		convForward(op, slice32(x), slice32(w), b, slice32(out))
	default:
		var b []float64
		if bias != nil {
			b = slice64(bias)
		}
		convForward(op, slice64(x), slice64(w), b, slice64(out))
	}
	return out, nil
}

func convForward[T float](op *convOp, x, w, bias, out []T) {
	st := op.st
	g := st.g
	rows, k, co := g.rows(), g.k(), g.cout
	mul := patchProduct(g, w, &op.wt)
	st.patches = nil
	per := g.oh * g.ow
	switch {
	case g.direct():
		hooks.CaptureInput(st.point, x, rows, k)
		byImages(g.n, 1, func(b0, b1 int) {
			mul(x[b0*per*k:], (b1-b0)*per, out[b0*per*co:])
		})
	case st.mode == Patches && st.point.Capturing():
		p := hooks.InputBuffer[T](st.point, rows, k)
		byImages(g.n, 1, func(b0, b1 int) {
			im2col(g, x, p[b0*per*k:], b0, b1)
			mul(p[b0*per*k:], (b1-b0)*per, out[b0*per*co:])
		})
		st.patches = p
	default:
		if st.mode == Channels {
			hooks.CaptureInput(st.point, x, g.pixels(), g.c)
		}
		if !directConv(g, x, w, out, &op.packed) {
			convolve(g, x, out, mul)
		}
	}
	if bias != nil {
		addRows(out, bias)
	}
}

// patchProduct returns the product h = P·W of m patch rows of g with its weights w. With
// gonum's kernels it is computed as P·(Wᵀ)ᵀ (Wᵀ kept in *slot): they then take dot products
// of length KH·KW·In instead of updates of length Out, which are too short to run fast.
// OpenBLAS is a little faster with the plain product.
func patchProduct[T float](g convGeom, w []T, slot *any) func(p []T, m int, h []T) {
	k, co := g.k(), g.cout
	if pureGo[T]() {
		wt := transposed(slot, w, k, co)
		return func(p []T, m int, h []T) { gemm(false, true, m, co, k, 1, p, k, wt, k, 0, h, co) }
	}
	return func(p []T, m int, h []T) { gemm(false, false, m, co, k, 1, p, k, w, co, 0, h, co) }
}

// convolve sets out to the convolution g of x: each worker builds patch blocks of its images
// and multiplies them by mul while they are in its cache.
func convolve[T float](g convGeom, x, out []T, mul func(p []T, m int, h []T)) {
	per, k, co := g.oh*g.ow, g.k(), g.cout
	var z T
	bi := g.blockImages(sizeOf(z))
	byImages(g.n, bi, func(b0, b1 int) {
		p := getScratch[T](min(bi, b1-b0) * per * k)
		for c0 := b0; c0 < b1; c0 += bi {
			c1 := min(c0+bi, b1)
			im2col(g, x, p, c0, c1)
			mul(p, (c1-c0)*per, out[c0*per*co:])
		}
		putScratch(p)
	})
}

// kernel is g as package convkernel's geometry, and whether the two agree on the output size.
func (g convGeom) kernel() (convkernel.Geometry, bool) {
	kg := convkernel.Geometry{N: g.n, H: g.h, W: g.w, C: g.c, KH: g.kh, KW: g.kw, P: g.p, Out: g.cout, S: g.s}
	return kg, kg.OH() == g.oh && kg.OW() == g.ow
}

// useDirect selects the direct kernel where it applies; tests turn it off to compare routes.
// Unsynchronised, like useAdjoint: no test calls t.Parallel (.ci/run checks).
var useDirect = true

// directConv sets out to the convolution g of x with weights w by package convkernel's direct
// kernel (no patch matrix), packing w into *packed, when it applies and pays: float32, a CPU
// with AVX2 and FMA (and AVX-512 for strides above 1), and few of the computed columns
// dropped (the kernel computes over the padded width). It reports whether it did.
//
// Measured at batch 128, one thread, against patch blocks and OpenBLAS (SkylakeX kernels):
//   - AVX-512 tiles: 3.5 times faster on 32×32×16→16, 1.9 times on 16×16×32→32 and 1.1 times
//     on 8×8×64→64, where a fifth of the columns are dropped; so up to a quarter may be.
//   - AVX-512, stride 2 (phase planes): 3.4–4.8 vs 6.1–7.4 ms on 32×32×16→32 and 3.3–3.7 vs
//     4.3–5.6 ms on 16×16×32→64, three runs each with other work on the machine.
//   - AVX2 tile: 1.7 times faster on 32×32×16→16, even on 16×16×32→32, 1.2 times slower on
//     8×8×64→64; so only 16 or 32 output channels and at most a ninth dropped (stride 1 only:
//     not measured strided).
func directConv[T float](g convGeom, x, w, out []T, packed *convkernel.Weights) bool {
	x32, ok := any(x).([]float32)
	if !ok || !useDirect || g.direct() {
		return false
	}
	kg, ok := g.kernel()
	if !ok || !kg.Supported() {
		return false
	}
	wp := kg.RowWidth()
	if convkernel.Wide() {
		if 3*wp > 4*g.ow {
			return false
		}
	} else if g.s != 1 || g.cout > 32 || 8*wp > 9*g.ow {
		return false
	}
	packed.Pack(kg, any(w).([]float32))
	out32 := any(out).([]float32)
	byImages(g.n, 1, func(b0, b1 int) { convkernel.Forward(kg, x32, packed, out32, b0, b1) })
	return true
}
