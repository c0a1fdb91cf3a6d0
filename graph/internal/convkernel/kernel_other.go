//go:build !amd64

package convkernel

const (
	haveKernel = false
	haveAVX512 = false
)

var useAVX512 = false

func tileFor(_, c int) tile {
	return tile{pixels: 6, width: 16, stride: c, kernel: func(int, *int, int, *float32, int, *float32, *float32, int) {
		panic("convkernel: no kernel on this architecture")
	}}
}

func gradTileFor(int) gradTile {
	return gradTile{rows: 16, width: 16, kernel: func(int, int, *float32, int, int, *float32, int, int, *float32, int) {
		panic("convkernel: no kernel on this architecture")
	}}
}
