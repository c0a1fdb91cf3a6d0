package backend_test

import (
	"fmt"
	"log"

	"github.com/lwca/lwca/backend"
)

func ExampleInit() {
	mode, err := backend.ModeFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	info, err := backend.Init(mode, 0)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("numeric backend: %v", info)
}

func ExampleSymEigenvalues() {
	// Only the upper triangle is read: the 9 below the diagonal is ignored.
	a := []float64{
		2, 1, 0,
		9, 2, 0,
		9, 9, 5,
	}
	vals, err := backend.SymEigenvalues(3, a)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.6f\n", vals)
	// Output:
	// [1.000000 3.000000 5.000000]
}
