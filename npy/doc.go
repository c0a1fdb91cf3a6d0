// Package npy reads and writes NumPy's .npy array files and appends rows
// to a growing two-dimensional .npy file.
//
// The format is the one documented in numpy.lib.format: the magic string
// "\x93NUMPY", a major and minor version byte, the little-endian length of
// an ASCII header (uint16 in version 1.0, uint32 in version 2.0), the
// header itself, a Python dict literal such as
//
//	{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
//
// padded with spaces and a final newline so that the data starts at a
// multiple of 64 bytes, and then the raw array data. Writers use version
// 1.0 unless the header needs more than 65535 bytes; readers accept 1.0,
// 2.0 and 3.0. Supported element types are '<f4', '<f8', '<i4', '<i8' and
// '|u1' (float32, float64, int32, int64 and uint8 in Go).
//
// Writing and reading a matrix:
//
//	x := []float64{1, 2, 3, 4, 5, 6}
//	if err := npy.WriteFile("x.npy", []int{2, 3}, x); err != nil {
//		log.Fatal(err)
//	}
//	a, err := npy.ReadFile("x.npy")
//	if err != nil {
//		log.Fatal(err)
//	}
//	fmt.Println(a.Shape, a.Dtype, a.F64) // [2 3] <f8 [1 2 3 4 5 6]
//
// Recording one row per step, readable at any time with numpy.load:
//
//	app, err := npy.OpenAppender("spectra.npy", "<f8", 64)
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer app.Close()
//	for step := range steps {
//		if err := app.AppendRow(spectrum(step)); err != nil { // 64 values
//			log.Fatal(err)
//		}
//	}
package npy
