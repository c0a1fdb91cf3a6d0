package convkernel

import "golang.org/x/sys/cpu"

var haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernel6x16 sets the 6×16 tile out (row stride ldo values) to
// Σ_t Σ_c a[offs[t] + r·stride + 4c] · b[(t·C + c)·16 + j], a and offs in bytes.
//
//go:noescape
func kernel6x16(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int)
