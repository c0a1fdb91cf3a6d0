package graph

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lwca/lwca/backend/backendtest"
	"github.com/lwca/lwca/hooks"
)

// resnetStages are the stride-1 3×3 convolutions of a CIFAR ResNet's three stages at batch 128.
var resnetStages = []convGeom{
	{n: 128, h: 32, w: 32, c: 16, kh: 3, kw: 3, s: 1, p: 1, oh: 32, ow: 32, cout: 16},
	{n: 128, h: 16, w: 16, c: 32, kh: 3, kw: 3, s: 1, p: 1, oh: 16, ow: 16, cout: 32},
	{n: 128, h: 8, w: 8, c: 64, kh: 3, kw: 3, s: 1, p: 1, oh: 8, ow: 8, cout: 64},
}

// BenchmarkConvInputGradient times ∂L/∂x of the 3×3 convolutions of a CIFAR ResNet's three
// stages at batch 128 in float32, by the adjoint convolution and by col2im, per backend.
func BenchmarkConvInputGradient(b *testing.B) {
	backendtest.Each(b, func(b *testing.B) {
		for i, g := range resnetStages {
			r := rand.New(rand.NewPCG(1, uint64(i)))
			dh := make([]float32, g.rows()*g.cout)
			w := make([]float32, g.k()*g.cout)
			dx := make([]float32, g.pixels()*g.c)
			for j := range dh {
				dh[j] = r.Float32() - 0.5
			}
			for j := range w {
				w[j] = r.Float32() - 0.5
			}
			op := &convDataGradOp{st: &convState{g: g}}
			benchRoutes(b, fmt.Sprintf("stage%d", i+1), &useAdjoint, [2]string{"adjoint", "col2im"},
				func() { convDataGrad(op, dh, w, dx) })
		}
	})
}

// BenchmarkIm2col times building the patch rows of one CIFAR ResNet image per stage, float32.
func BenchmarkIm2col(b *testing.B) {
	for i, g := range resnetStages {
		g.n = 1
		x := make([]float32, g.pixels()*g.c)
		p := make([]float32, g.rows()*g.k())
		b.Run(fmt.Sprintf("stage%d", i+1), func(b *testing.B) {
			b.SetBytes(int64(4 * len(p)))
			for b.Loop() {
				im2col(g, x, p, 0, 1)
			}
		})
	}
}

// resnetTransitions are the stride-2 3×3 convolutions that open a CIFAR ResNet's second and
// third stages, at batch 128.
var resnetTransitions = []convGeom{
	{n: 128, h: 32, w: 32, c: 16, kh: 3, kw: 3, s: 2, p: 1, oh: 16, ow: 16, cout: 32},
	{n: 128, h: 16, w: 16, c: 32, kh: 3, kw: 3, s: 2, p: 1, oh: 8, ow: 8, cout: 64},
}

// BenchmarkConvForward times the 3×3 convolutions of a CIFAR ResNet's three stages and its two
// stage transitions at batch 128 in float32, by the direct kernel and by patch blocks and BLAS
// products, per backend.
func BenchmarkConvForward(b *testing.B) {
	backendtest.Each(b, func(b *testing.B) {
		for i, g := range append(slices.Clip(resnetStages), resnetTransitions...) {
			x := make([]float32, g.pixels()*g.c)
			w := make([]float32, g.k()*g.cout)
			out := make([]float32, g.rows()*g.cout)
			op := &convOp{st: &convState{g: g}}
			name := fmt.Sprintf("stage%d", i+1)
			if g.s > 1 {
				name = fmt.Sprintf("stage%d-in", i-len(resnetStages)+2)
			}
			benchRoutes(b, name, &useDirect, [2]string{"direct", "patches"},
				func() { convForward(op, x, w, nil, out) })
		}
	})
}

// benchRoutes runs f as the sub-benchmarks name/labels[0], with *route set, and
// name/labels[1], with it cleared.
func benchRoutes(b *testing.B, name string, route *bool, labels [2]string, f func()) {
	for i, label := range labels {
		b.Run(name+"/"+label, func(b *testing.B) {
			defer func(old bool) { *route = old }(*route)
			*route = i == 0
			for b.Loop() {
				f()
			}
		})
	}
}

// BenchmarkConvWeightGradient times the weight gradients of the same convolutions, by the
// direct kernel and by patch blocks and BLAS products, per backend.
func BenchmarkConvWeightGradient(b *testing.B) {
	backendtest.Each(b, func(b *testing.B) {
		for i, g := range resnetStages {
			x := make([]float32, g.pixels()*g.c)
			dh := make([]float32, g.rows()*g.cout)
			dw := make([]float32, g.k()*g.cout)
			st := &convState{g: g}
			benchRoutes(b, fmt.Sprintf("stage%d", i+1), &useDirect, [2]string{"direct", "patches"},
				func() { convFilterGrad(st, x, dh, dw) })
		}
	})
}

// BenchmarkGroupConv times grouped 3×3 convolutions on 32×32×16 images at batch 128 in
// float32 (forward, input and weight gradients), depthwise and in two groups, per backend.
func BenchmarkGroupConv(b *testing.B) {
	backendtest.Each(b, func(b *testing.B) {
		for _, groups := range []int{16, 2} {
			g := resnetStages[0]
			names := make([]string, groups)
			for k := range names {
				names[k] = fmt.Sprintf("conv.g%d", k+1)
			}
			op := newGroupConvOp("conv", g, false, Patches, names, make([]*hooks.Point, groups), true)
			dx := &groupConvGradOp{fwd: op, data: true}
			for _, s := range op.sub {
				dx.dsub = append(dx.dsub, &convDataGradOp{st: s.st})
			}
			dw := &groupConvGradOp{fwd: op}
			r := rand.New(rand.NewPCG(1, uint64(groups)))
			x := make([]float32, g.pixels()*g.c)
			w := make([]float32, g.k()/groups*g.cout)
			h := make([]float32, g.rows()*g.cout)
			for _, v := range [][]float32{x, w, h} {
				for j := range v {
					v[j] = r.Float32() - 0.5
				}
			}
			gx, gw := make([]float32, len(x)), make([]float32, len(w))
			b.Run(fmt.Sprintf("groups%d", groups), func(b *testing.B) {
				for b.Loop() {
					groupForward(op, x, w, nil, h)
					groupGrad(dx, h, w, gx)
					groupGrad(dw, x, h, gw)
				}
			})
		}
	})
}
