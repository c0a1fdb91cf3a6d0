package graph

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/chewxy/hm"
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
// For speed the layer is one fused op: the patch matrix is built a few images at a time into
// a cache-sized buffer (or whole, into the hook's X, on capturing runs) and rebuilt in the
// backward pass instead of being stored, and the captures are written by the op itself
// rather than by tap nodes, which would copy every patch matrix and its gradient each step.
type Conv2d struct {
	Name    string
	In, Out int // input and output channels
	KH, KW  int // kernel height and width
	Stride  int // step in both directions; 0 means 1
	Pad     int // zeros added on every border
	Bias    bool
	Init    Initializer // weight initialiser; default HeNormalFanOut (fan-out = KH·KW·Out)
	Mode    ConvMode    // what the input hook records; default Patches
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

func (g convGeom) rows() int   { return g.n * g.oh * g.ow }
func (g convGeom) k() int      { return g.kh * g.kw * g.c }
func (g convGeom) pixels() int { return g.n * g.h * g.w }

// direct reports whether the patch matrix is the input itself (1×1 kernel, stride 1, no padding).
func (g convGeom) direct() bool { return g.kh == 1 && g.kw == 1 && g.s == 1 && g.p == 0 }

// convBlockBytes is the size of the patch-matrix block built at a time: small enough to stay
// in a core's cache between its construction and the matrix product that reads it. For the
// CIFAR ResNets that is one image in the first two stages (measured: 2 MB blocks made a
// ResNet-20 step 1.5 times slower than 128-512 KB ones).
var convBlockBytes = 1 << 19

// blockImages is how many images one patch block holds.
func (g convGeom) blockImages(elem int) int {
	per := g.oh * g.ow * g.k() * elem
	return min(g.n, max(1, convBlockBytes/max(per, 1)))
}

func (l *Conv2d) geometry(s tensor.Shape) (convGeom, error) {
	if len(s) != 4 || s[3] != l.In {
		return convGeom{}, fmt.Errorf("%s: input shape %v, expected (N, H, W, %d) channels last", l.Name, s, l.In)
	}
	if l.In < 1 || l.Out < 1 || l.KH < 1 || l.KW < 1 || l.Stride < 0 || l.Pad < 0 {
		return convGeom{}, fmt.Errorf("%s: invalid convolution %d→%d kernel %d×%d stride %d pad %d", l.Name, l.In, l.Out, l.KH, l.KW, l.Stride, l.Pad)
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
	hp, err := b.HookPoint(l.Name)
	if err != nil {
		return nil, err
	}
	w, err := b.Param(l.Name, "weight", Weight, []int{g.k(), l.Out}, g.k(), l.KH*l.KW*l.Out, init)
	if err != nil {
		return nil, err
	}
	in := G.Nodes{x, w}
	if l.Bias {
		bias, err := b.Param(l.Name, "bias", Bias, []int{l.Out}, g.k(), l.KH*l.KW*l.Out, Constant(0))
		if err != nil {
			return nil, err
		}
		in = append(in, bias)
	}
	st := &convState{layer: l.Name, g: g, bias: l.Bias, mode: mode, point: hp, set: b.Hooks, inputGrad: needsGrad(b, x)}
	h, err := G.ApplyOp(&convOp{opBase: opBase{uniqueName("conv", l.Name)}, st: st}, in...)
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
	set       *hooks.Set
	inputGrad bool
	// havePatches is set by a capturing forward pass that left the whole patch matrix in
	// point.X, so that the weight gradient need not rebuild it.
	havePatches bool
}

func (st *convState) capturing() bool { return st.point != nil && st.set != nil && st.set.Enabled() }

type convOp struct {
	opBase
	st  *convState
	out *tensor.Dense
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

func (op *convOp) Do(in ...G.Value) (G.Value, error) {
	x, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	w, err := values(in[1], op.name)
	if err != nil {
		return nil, err
	}
	g := op.st.g
	if x.Size() != g.pixels()*g.c || w.Size() != g.k()*g.cout {
		return nil, fmt.Errorf("%s: input %v and weight %v do not match the layer", op.name, x.Shape(), w.Shape())
	}
	var bias *tensor.Dense
	if op.st.bias {
		if bias, err = values(in[2], op.name); err != nil {
			return nil, err
		}
	}
	out := reuse(&op.out, x.Dtype(), g.n, g.oh, g.ow, g.cout)
	switch x.Dtype() {
	case tensor.Float32:
		var b []float32
		if bias != nil {
			b = slice32(bias)
		}
		convForward(op.st, slice32(x), slice32(w), b, slice32(out))
	default:
		var b []float64
		if bias != nil {
			b = slice64(bias)
		}
		convForward(op.st, slice64(x), slice64(w), b, slice64(out))
	}
	return out, nil
}

// hookBuffer resizes the hook matrix m to rows×cols of T and returns its storage.
func hookBuffer[T float](m *hooks.Matrix, rows, cols int) []T {
	m.Rows, m.Cols = rows, cols
	n := rows * cols
	var z T
	if _, ok := any(z).(float32); ok {
		if cap(m.F32) < n {
			m.F32 = make([]float32, n)
		}
		m.F32 = m.F32[:n]
		return any(m.F32).([]T)
	}
	if cap(m.F64) < n {
		m.F64 = make([]float64, n)
	}
	m.F64 = m.F64[:n]
	return any(m.F64).([]T)
}

func convForward[T float](st *convState, x, w, bias, out []T) {
	g := st.g
	rows, k, co := g.rows(), g.k(), g.cout
	capture := st.capturing()
	st.havePatches = false
	per := g.oh * g.ow
	switch {
	case g.direct():
		if capture {
			captureRows(&st.point.X, x, rows, k, 1)
		}
		byImages(g.n, 1, func(_, b0, b1 int) {
			gemm(false, false, (b1-b0)*per, co, k, 1, x[b0*per*k:], k, w, co, 0, out[b0*per*co:], co)
		})
	case capture && st.mode == Patches:
		p := hookBuffer[T](&st.point.X, rows, k)
		byImages(g.n, 1, func(_, b0, b1 int) {
			im2col(g, x, p[b0*per*k:], b0, b1)
			gemm(false, false, (b1-b0)*per, co, k, 1, p[b0*per*k:], k, w, co, 0, out[b0*per*co:], co)
		})
		st.havePatches = true
	default:
		if capture {
			captureRows(&st.point.X, x, g.pixels(), g.c, 1)
		}
		var z T
		bi := g.blockImages(sizeOf(z))
		byImages(g.n, bi, func(_, b0, b1 int) {
			p := getScratch[T](min(bi, b1-b0) * per * k)
			for c0 := b0; c0 < b1; c0 += bi {
				c1 := min(c0+bi, b1)
				im2col(g, x, p, c0, c1)
				gemm(false, false, (c1-c0)*per, co, k, 1, p, k, w, co, 0, out[c0*per*co:], co)
			}
			putScratch(p)
		})
	}
	if bias != nil {
		addRows(out, bias)
	}
}

// byImages splits images [0, n) into one contiguous range per processor (fewer when there
// are fewer than grain images per range) and calls f(worker, b0, b1) for each, in parallel.
// Each worker builds, multiplies and scatters its own patch blocks, so a block stays in its
// core's cache from construction to use; the matrix products then run on one thread each.
func byImages(n, grain int, f func(worker, b0, b1 int)) {
	workers := max(1, min(runtime.GOMAXPROCS(0), n/max(grain, 1)))
	if workers == 1 {
		f(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(w, w*n/workers, (w+1)*n/workers)
		}()
	}
	f(0, 0, n/workers)
	wg.Wait()
}

func sizeOf[T float](T) int {
	var z T
	if _, ok := any(z).(float32); ok {
		return 4
	}
	return 8
}

// addRows adds v to every row of the row-major matrix m (len(v) columns).
func addRows[T float](m, v []T) {
	c := len(v)
	parallel(len(m)/c, 4096, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := m[r*c : (r+1)*c]
			for j, b := range v {
				row[j] += b
			}
		}
	})
}

// im2col writes the patch rows of images [b0, b1) to p, from its start.
func im2col[T float](g convGeom, x, p []T, b0, b1 int) {
	k, seg, per := g.k(), g.kw*g.c, g.oh*g.ow
	for r := 0; r < (b1-b0)*per; r++ {
		b := b0 + r/per
		i, j := (r%per)/g.ow, r%g.ow
		dst := p[r*k : (r+1)*k]
		iw0 := j*g.s - g.p
		for u := 0; u < g.kh; u++ {
			row := dst[u*seg : (u+1)*seg]
			ih := i*g.s - g.p + u
			if ih < 0 || ih >= g.h {
				clear(row)
				continue
			}
			base := (b*g.h + ih) * g.w
			if iw0 >= 0 && iw0+g.kw <= g.w {
				copy(row, x[(base+iw0)*g.c:(base+iw0+g.kw)*g.c])
				continue
			}
			for v := 0; v < g.kw; v++ {
				d := row[v*g.c : (v+1)*g.c]
				if iw := iw0 + v; iw < 0 || iw >= g.w {
					clear(d)
				} else {
					copy(d, x[(base+iw)*g.c:(base+iw+1)*g.c])
				}
			}
		}
	}
}

// col2im sets the pixels of images [b0, b1) of dx to the sum of the patch-row entries that
// were copied from them: the adjoint of im2col. p holds those images' patch rows from its
// start. Callers give concurrent calls disjoint images.
func col2im[T float](g convGeom, p, dx []T, b0, b1 int) {
	k, seg, per := g.k(), g.kw*g.c, g.oh*g.ow
	clear(dx[b0*g.h*g.w*g.c : b1*g.h*g.w*g.c])
	for r := 0; r < (b1-b0)*per; r++ {
		b := b0 + r/per
		i, j := (r%per)/g.ow, r%g.ow
		src := p[r*k : (r+1)*k]
		iw0 := j*g.s - g.p
		for u := 0; u < g.kh; u++ {
			ih := i*g.s - g.p + u
			if ih < 0 || ih >= g.h {
				continue
			}
			row := src[u*seg : (u+1)*seg]
			base := (b*g.h + ih) * g.w
			if iw0 >= 0 && iw0+g.kw <= g.w {
				addTo(dx[(base+iw0)*g.c:(base+iw0+g.kw)*g.c], row)
				continue
			}
			for v := 0; v < g.kw; v++ {
				if iw := iw0 + v; iw >= 0 && iw < g.w {
					addTo(dx[(base+iw)*g.c:(base+iw+1)*g.c], row[v*g.c:(v+1)*g.c])
				}
			}
		}
	}
}

// addTo adds s to d element by element; len(d) == len(s).
func addTo[T float](d, s []T) {
	d = d[:len(s)]
	for i, v := range s {
		d[i] += v
	}
}

func (op *convOp) DiffWRT(int) []bool {
	d := []bool{op.st.inputGrad, true}
	if op.st.bias {
		d = append(d, true)
	}
	return d
}

func (op *convOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	var err error
	if op.st.inputGrad {
		dx := &convDataGradOp{opBase: opBase{uniqueName("conv.dx", op.st.layer)}, st: op.st}
		if out[0], err = G.ApplyOp(dx, grad, inputs[1]); err != nil {
			return nil, err
		}
	}
	dw := &convFilterGradOp{opBase: opBase{uniqueName("conv.dweight", op.st.layer)}, st: op.st}
	if out[1], err = G.ApplyOp(dw, inputs[0], grad); err != nil {
		return nil, err
	}
	if op.st.bias {
		if out[2], err = G.ApplyOp(&channelSumOp{opBase: opBase{uniqueName("conv.dbias", op.st.layer)}, dims: 4}, grad); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// convDataGradOp computes ∂L/∂x = col2im(∂L/∂h · Wᵀ) from (∂L/∂h, W).
type convDataGradOp struct {
	opBase
	st  *convState
	out *tensor.Dense
	wt  any // Wᵀ, Out×(KH·KW·In), reused
}

func (op *convDataGradOp) Arity() int { return 2 }

func (op *convDataGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t4, t2 := G.TensorType{Dims: 4, Of: a}, G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t4, t2, t4)
}

func (op *convDataGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	g := op.st.g
	return tensor.Shape{g.n, g.h, g.w, g.c}, nil
}

func (op *convDataGradOp) Do(in ...G.Value) (G.Value, error) {
	dh, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	w, err := values(in[1], op.name)
	if err != nil {
		return nil, err
	}
	g := op.st.g
	out := reuse(&op.out, dh.Dtype(), g.n, g.h, g.w, g.c)
	switch dh.Dtype() {
	case tensor.Float32:
		convDataGrad(op, slice32(dh), slice32(w), slice32(out))
	default:
		convDataGrad(op, slice64(dh), slice64(w), slice64(out))
	}
	return out, nil
}

func convDataGrad[T float](op *convDataGradOp, dh, w, dx []T) {
	g := op.st.g
	k, co := g.k(), g.cout
	// Wᵀ is tiny; multiplying by it untransposed is much faster in gonum than a transposed product.
	wt, _ := op.wt.([]T)
	if len(wt) != len(w) {
		wt = make([]T, len(w))
		op.wt = wt
	}
	for r := 0; r < k; r++ {
		for c := 0; c < co; c++ {
			wt[c*k+r] = w[r*co+c]
		}
	}
	per := g.oh * g.ow
	if g.direct() {
		byImages(g.n, 1, func(_, b0, b1 int) {
			gemm(false, false, (b1-b0)*per, k, co, 1, dh[b0*per*co:], co, wt, k, 0, dx[b0*per*k:], k)
		})
		return
	}
	var z T
	bi := g.blockImages(sizeOf(z))
	byImages(g.n, bi, func(_, b0, b1 int) {
		p := getScratch[T](min(bi, b1-b0) * per * k)
		for c0 := b0; c0 < b1; c0 += bi {
			c1 := min(c0+bi, b1)
			gemm(false, false, (c1-c0)*per, k, co, 1, dh[c0*per*co:], co, wt, k, 0, p, k)
			col2im(g, p, dx, c0, c1)
		}
		putScratch(p)
	})
}

// convFilterGradOp computes ∂L/∂W = Pᵀ·∂L/∂h from (x, ∂L/∂h), rebuilding P block by block,
// and records the layer's output gradients when its hooks capture.
type convFilterGradOp struct {
	opBase
	st  *convState
	out *tensor.Dense
}

func (op *convFilterGradOp) Arity() int { return 2 }

func (op *convFilterGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t4, t2 := G.TensorType{Dims: 4, Of: a}, G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(t4, t4, t2)
}

func (op *convFilterGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.st.g.k(), op.st.g.cout}, nil
}

func (op *convFilterGradOp) Do(in ...G.Value) (G.Value, error) {
	x, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	dh, err := values(in[1], op.name)
	if err != nil {
		return nil, err
	}
	g := op.st.g
	out := reuse(&op.out, x.Dtype(), g.k(), g.cout)
	switch x.Dtype() {
	case tensor.Float32:
		convFilterGrad(op.st, slice32(x), slice32(dh), slice32(out))
	default:
		convFilterGrad(op.st, slice64(x), slice64(dh), slice64(out))
	}
	return out, nil
}

func convFilterGrad[T float](st *convState, x, dh, dw []T) {
	g := st.g
	rows, k, co := g.rows(), g.k(), g.cout
	if st.capturing() {
		captureRows(&st.point.G, dh, rows, co, st.point.GradScale)
	}
	per := g.oh * g.ow
	var z T
	bi := g.blockImages(sizeOf(z))
	grain := bi
	if g.direct() || st.havePatches {
		grain = 1
	}
	// Each worker sums its images' products into its own partial gradient.
	var mu sync.Mutex
	partials := [][]T{}
	byImages(g.n, grain, func(worker, b0, b1 int) {
		acc := dw
		if worker > 0 {
			acc = getScratch[T](len(dw))
			defer func() {
				mu.Lock()
				partials = append(partials, acc)
				mu.Unlock()
			}()
		}
		switch {
		case g.direct():
			gemm(true, false, k, co, (b1-b0)*per, 1, x[b0*per*k:], k, dh[b0*per*co:], co, 0, acc, co)
		case st.havePatches:
			p := hookBuffer[T](&st.point.X, rows, k)
			gemm(true, false, k, co, (b1-b0)*per, 1, p[b0*per*k:], k, dh[b0*per*co:], co, 0, acc, co)
		default:
			p := getScratch[T](min(bi, b1-b0) * per * k)
			for c0 := b0; c0 < b1; c0 += bi {
				c1 := min(c0+bi, b1)
				im2col(g, x, p, c0, c1)
				beta := T(1)
				if c0 == b0 {
					beta = 0
				}
				gemm(true, false, k, co, (c1-c0)*per, 1, p, k, dh[c0*per*co:], co, beta, acc, co)
			}
			putScratch(p)
		}
	})
	for _, part := range partials {
		for i, v := range part {
			dw[i] += v
		}
		putScratch(part)
	}
	st.havePatches = false
}

// channelSumOp sums its input over every axis but the last: the gradient of a per-channel bias.
type channelSumOp struct {
	opBase
	dims int
	out  *tensor.Dense
}

func (op *channelSumOp) Arity() int { return 1 }

func (op *channelSumOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: op.dims, Of: a}, G.TensorType{Dims: 1, Of: a})
}

func (op *channelSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	return tensor.Shape{s[len(s)-1]}, nil
}

func (op *channelSumOp) Do(in ...G.Value) (G.Value, error) {
	t, err := values(in[0], op.name)
	if err != nil {
		return nil, err
	}
	s := t.Shape()
	c := s[len(s)-1]
	out := reuse(&op.out, t.Dtype(), c)
	switch t.Dtype() {
	case tensor.Float32:
		sumColumns(slice32(t), slice32(out))
	default:
		sumColumns(slice64(t), slice64(out))
	}
	return out, nil
}

// sumColumns sets out to the column sums of the row-major matrix m, accumulating in float64.
func sumColumns[T float](m, out []T) {
	c := len(out)
	acc := make([]float64, c)
	for r := 0; r < len(m)/c; r++ {
		for j, v := range m[r*c : (r+1)*c] {
			acc[j] += float64(v)
		}
	}
	for j, v := range acc {
		out[j] = T(v)
	}
}
