package npy_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/lwca/lwca/npy"
)

func ExampleWrite() {
	var buf bytes.Buffer
	if err := npy.Write(&buf, []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}); err != nil {
		log.Fatal(err)
	}
	b := buf.Bytes()
	fmt.Printf("%d-byte header: %s\n", bytes.IndexByte(b, '\n')+1, b[10:bytes.IndexByte(b, '}')+1])
	a, err := npy.Read(&buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Dtype, a.Shape, a.F32)
	// Output:
	// 128-byte header: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
	// <f4 [2 3] [1 2 3 4 5 6]
}

// One row per step; the file is a valid array after every append, and a
// later run continues it.
func ExampleAppender() {
	dir, err := os.MkdirTemp("", "npy")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "lambda.npy")

	for run := range 2 {
		app, err := npy.OpenAppender(path, "<f8", 2)
		if err != nil {
			log.Fatal(err)
		}
		for step := range 3 {
			if err := app.AppendRow([]float64{float64(run), float64(step)}); err != nil {
				log.Fatal(err)
			}
		}
		if err := app.Close(); err != nil {
			log.Fatal(err)
		}
	}
	a, err := npy.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Shape, a.F64)
	// Output:
	// [6 2] [0 0 0 1 0 2 1 0 1 1 1 2]
}
