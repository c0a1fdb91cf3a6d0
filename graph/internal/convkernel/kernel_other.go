//go:build !amd64

package convkernel

const haveKernel = false

func kernel6x16(taps int, offs *int, c int, a *float32, stride int, b *float32, out *float32, ldo int) {
	panic("convkernel: no kernel on this architecture")
}
