package graph

import (
	"github.com/lwca/lwca/backend/sgemm"
	"github.com/lwca/lwca/graph/internal/vec"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
)

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

// byImages is parallel over images [0, n): each call builds, multiplies and scatters its own
// patch blocks, so a block stays in its core's cache from construction to use; the matrix
// products then run on one thread each.
func byImages(n, grain int, f func(b0, b1 int)) { parallel(n, grain, f) }

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

// im2col writes the patch rows of images [b0, b1) to p, from its start. It works one output
// row at a time: for each kernel row, the output columns whose windows lie inside the image
// are one strided block copy, and only the columns at the borders are assembled pixel by pixel.
func im2col[T float](g convGeom, x, p []T, b0, b1 int) {
	k, seg := g.k(), g.kw*g.c
	jLo := min(g.ow, (g.p+g.s-1)/g.s) // first output column whose window starts inside
	jHi := jLo                        // end of the columns whose window also ends inside
	if last := g.w - g.kw + g.p; last >= 0 {
		jHi = max(jLo, min(g.ow, last/g.s+1))
	}
	r := 0
	for b := b0; b < b1; b++ {
		for i := 0; i < g.oh; i++ {
			band := p[r*k : (r+g.ow)*k]
			r += g.ow
			for u := 0; u < g.kh; u++ {
				ih := i*g.s - g.p + u
				if ih < 0 || ih >= g.h {
					for j := 0; j < g.ow; j++ {
						clear(band[j*k+u*seg : j*k+(u+1)*seg])
					}
					continue
				}
				base := (b*g.h + ih) * g.w
				if jHi > jLo {
					vec.CopyBlocks(band[jLo*k+u*seg:], x[(base+jLo*g.s-g.p)*g.c:], seg, jHi-jLo, k, g.s*g.c)
				}
				for j := 0; j < g.ow; j++ {
					if j >= jLo && j < jHi {
						continue // copied above
					}
					row := band[j*k+u*seg : j*k+(u+1)*seg]
					iw0 := j*g.s - g.p
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

// addTo adds s to d element by element; len(d) == len(s). Longer slices go to the BLAS axpy,
// whose gonum implementation uses SIMD instructions (about 8% of a ResNet step's CPU time).
func addTo[T float](d, s []T) {
	if len(s) >= 16 {
		switch s := any(s).(type) {
		case []float32:
			blas32.Implementation().Saxpy(len(s), 1, s, 1, any(d).([]float32), 1)
			return
		case []float64:
			blas64.Implementation().Daxpy(len(s), 1, s, 1, any(d).([]float64), 1)
			return
		}
	}
	d = d[:len(s)]
	for i, v := range s {
		d[i] += v
	}
}

// pureGo reports whether products of T run in gonum's pure-Go kernels, which are fast only on
// long rows of the result. (The pure-Go backend's own float32 kernel, package sgemm, is fast
// on the plain products.)
func pureGo[T float]() bool {
	var z T
	if _, ok := any(z).(float32); ok {
		_, ok := blas32.Implementation().(gonum.Implementation)
		return ok
	}
	switch blas64.Implementation().(type) {
	case gonum.Implementation, sgemm.Implementation:
		return true
	}
	return false
}

// transposed returns the cols×rows transpose of the row-major rows×cols matrix m, in the
// buffer kept in *slot.
func transposed[T float](slot *any, m []T, rows, cols int) []T {
	t, _ := (*slot).([]T)
	if len(t) != len(m) {
		t = make([]T, len(m))
		*slot = t
	}
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			t[c*rows+r] = m[r*cols+c]
		}
	}
	return t
}
