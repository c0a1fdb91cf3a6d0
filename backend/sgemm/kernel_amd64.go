package sgemm

import "golang.org/x/sys/cpu"

// haveKernel reports whether the AVX2/FMA micro-kernel can run: the CPU has both and the
// operating system saves the YMM registers (which cpu checks for AVX2).
var haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int)
