// Package hooks places capture nodes at the boundaries of weighted layers in a Gorgonia graph.
//
// Every weighted layer computes h = x·W on an explicit 2-D input. Its hook point owns two tap
// nodes: one on x (the forward value) and one on h, whose backward half sees ∂L/∂h. Taps are
// identity ops in the graph, so they ride along with the normal training step: no extra forward
// or backward pass is run. They copy data out only while their set is enabled, which the
// training loop does on analysis steps.
//
//	set := hooks.NewSet()
//	p := set.Add("fc1", batchSize)         // batchSize rescales ∂L/∂h to per-sample gradients
//	x = hooks.TapInput(p, x)               // before the matrix product
//	h = hooks.TapOutput(p, h)              // after it
//	...
//	set.Enable(true); vm.RunAll(); set.Enable(false)
//	p.X, p.G                               // captured N×d inputs and N×m per-sample gradients
//
// A layer computed by one fused op (a convolution) has no x and h nodes to tap: its op hands
// the same matrices over itself with CaptureInput (or fills InputBuffer) in its forward pass
// and CaptureOutputGrad in its backward pass. Taps use these functions too, so the capture
// rules (only while capturing, only selected points, G scaled to per-sample gradients) live in
// one place.
package hooks

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Matrix is a captured row-major matrix. Exactly one of F32 and F64 is set, matching the
// graph's dtype. Its storage is reused from one capture to the next.
type Matrix struct {
	Rows, Cols int
	F32        []float32
	F64        []float64
}

// Valid reports whether the matrix holds a capture.
func (m *Matrix) Valid() bool { return m.Rows > 0 && (m.F32 != nil || m.F64 != nil) }

// Float64 returns the data as float64 (a copy when stored as float32).
func (m *Matrix) Float64() []float64 {
	if m.F64 != nil {
		return m.F64
	}
	out := make([]float64, len(m.F32))
	for i, v := range m.F32 {
		out[i] = float64(v)
	}
	return out
}

// Point is the capture site of one weighted layer.
type Point struct {
	// Layer is the stable name of the layer (fc1, stage1.block2.conv1, …).
	Layer string
	// X holds the layer's input rows from the last enabled run.
	X Matrix
	// G holds the per-sample gradients ∂ℓ_i/∂h_i from the last enabled run: the autodiff
	// gradient of the mean-reduced loss multiplied by GradScale.
	G Matrix
	// GradScale is the batch size N of the mean-reduced loss (method.md: row i of the
	// autodiff gradient is g_i/N).
	GradScale float64
	// Samples is the number of samples in the batch the captures came from; rows of X and G
	// exceed it for layers that see several rows per sample (convolution positions).
	Samples int

	set *Set
	off bool // left out of the set's selection
}

// Capturing reports whether the point records on the current run: its set is enabled and the
// point is in the set's selection. A nil point (evaluation graphs have none) never captures.
func (p *Point) Capturing() bool { return p != nil && p.set.enabled && !p.off }

// Set is the collection of a network's hook points, in layer order.
type Set struct {
	points  []*Point
	byName  map[string]*Point
	enabled bool
}

// NewSet returns an empty, disabled set.
func NewSet() *Set { return &Set{byName: map[string]*Point{}} }

// Add registers a hook point for the named layer. batchSize is the number of samples over
// which the loss is averaged. Names must be unique.
func (s *Set) Add(layer string, batchSize int) (*Point, error) {
	if _, dup := s.byName[layer]; dup {
		return nil, fmt.Errorf("hooks: layer name %q is used twice; weighted layers need unique names", layer)
	}
	p := &Point{Layer: layer, GradScale: float64(batchSize), Samples: batchSize, set: s}
	s.points = append(s.points, p)
	s.byName[layer] = p
	return p, nil
}

// Points returns the hook points in the order they were added.
func (s *Set) Points() []*Point { return s.points }

// Point returns the hook point of the named layer, or nil.
func (s *Set) Point(layer string) *Point { return s.byName[layer] }

// Enable switches capturing on or off for every selected point of the set.
func (s *Set) Enable(on bool) { s.enabled = on }

// Select restricts capturing to the named layers; no names selects every layer. Points left
// out record nothing, which matters for deep convnets whose every capture is large.
func (s *Set) Select(layers []string) error {
	want := map[string]bool{}
	for _, l := range layers {
		if s.byName[l] == nil {
			var have []string
			for _, p := range s.points {
				have = append(have, p.Layer)
			}
			return fmt.Errorf("hooks: the network has no weighted layer %q (it has %v)", l, have)
		}
		want[l] = true
	}
	for _, p := range s.points {
		p.off = len(want) > 0 && !want[p.Layer]
	}
	return nil
}

// Enabled reports whether the set captures.
func (s *Set) Enabled() bool { return s.enabled }

// Complete reports whether every selected point holds both captures.
func (s *Set) Complete() error {
	for _, p := range s.points {
		if p.off {
			continue
		}
		if !p.X.Valid() || !p.G.Valid() {
			return fmt.Errorf("hooks: layer %s has no complete capture (is it on the path from the parameters to the loss?)", p.Layer)
		}
	}
	return nil
}

// TapInput inserts the input tap of p after x and returns the node to use in its place.
func TapInput(p *Point, x *G.Node) (*G.Node, error) {
	return G.ApplyOp(&tapOp{point: p, role: captureForward}, x)
}

// TapOutput inserts the output tap of p after h; its backward half captures ∂L/∂h.
func TapOutput(p *Point, h *G.Node) (*G.Node, error) {
	return G.ApplyOp(&tapOp{point: p, role: forwardOfOutput}, h)
}

type tapRole int

const (
	captureForward  tapRole = iota // forward copy that records x
	forwardOfOutput                // forward copy whose gradient is captured
	captureGradient                // backward copy that records ∂L/∂h
	passGradient                   // backward copy that records nothing
)

var roleNames = [...]string{"tapX", "tapH", "tapGradH", "tapGradX"}

// tapOp is an identity op that copies its input out while its set is enabled. It returns a
// fresh copy rather than its input so that in-place ops downstream cannot clobber a value
// that the backward pass still needs.
type tapOp struct {
	point *Point
	role  tapRole
}

func (op *tapOp) Arity() int { return 1 }

func (op *tapOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a)
}

func (op *tapOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("hooks: %v expects a tensor shape, got %T", op, in[0])
	}
	return s.Clone(), nil
}

func (op *tapOp) Do(in ...G.Value) (G.Value, error) {
	t, ok := in[0].(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("hooks: %v expects a dense tensor, got %T", op, in[0])
	}
	return op.UsePreallocDo(tensor.New(tensor.Of(t.Dtype()), tensor.WithShape(t.Shape().Clone()...)), in...)
}

func (op *tapOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	src, ok := in[0].(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("hooks: %v expects a dense tensor, got %T", op, in[0])
	}
	dst, ok := prealloc.(*tensor.Dense)
	if !ok || dst.Dtype() != src.Dtype() || dst.Size() != src.Size() {
		return op.Do(in...)
	}
	if err := copyDense(dst, src); err != nil {
		return nil, err
	}
	rows, cols := lastAxis(src)
	switch d := src.Data().(type) {
	case []float32:
		tapCapture(op.point, op.role, d, rows, cols)
	case []float64:
		tapCapture(op.point, op.role, d, rows, cols)
	}
	return dst, nil
}

func copyDense(dst, src *tensor.Dense) error {
	switch s := src.Data().(type) {
	case []float32:
		copy(dst.Data().([]float32), s)
	case []float64:
		copy(dst.Data().([]float64), s)
	default:
		return fmt.Errorf("hooks: unsupported dtype %v (float32 or float64 expected)", src.Dtype())
	}
	return nil
}

// tapCapture hands a tap's value to its point: forward values of the input tap as X,
// gradients reaching the output tap as G.
func tapCapture[T Float](p *Point, role tapRole, data []T, rows, cols int) {
	switch role {
	case captureForward:
		CaptureInput(p, data, rows, cols)
	case captureGradient:
		CaptureOutputGrad(p, data, rows, cols)
	}
}

// lastAxis views t as a matrix whose columns are its last axis.
func lastAxis(t *tensor.Dense) (rows, cols int) {
	shape := t.Shape()
	cols = 1
	if len(shape) > 0 {
		cols = shape[len(shape)-1]
	}
	return t.Size() / cols, cols
}

func (op *tapOp) ReturnsPtr() bool     { return false }
func (op *tapOp) CallsExtern() bool    { return false }
func (op *tapOp) OverwritesInput() int { return -1 }

// WriteHash includes the layer name: Gorgonia merges nodes whose ops hash alike.
func (op *tapOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "lwca.%s(%s)", roleNames[op.role], op.point.Layer)
}

func (op *tapOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *tapOp) String() string { return roleNames[op.role] + "[" + op.point.Layer + "]" }

func (op *tapOp) DiffWRT(int) []bool { return []bool{true} }

func (op *tapOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	role := passGradient
	if op.role == forwardOfOutput {
		role = captureGradient
	}
	d, err := G.ApplyOp(&tapOp{point: op.point, role: role}, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d}, nil
}
