package data_test

import (
	"fmt"

	"github.com/lwca/lwca/data"
)

func ExampleSynthetic() {
	train, test := data.Synthetic(data.SyntheticOptions{Classes: 3, D: 4, NTrain: 30, NTest: 9, Seed: 1})
	fmt.Println(train.N, test.N, train.D, train.Classes, train.ClassCounts())
	// Output: 30 9 4 3 [10 10 10]
}

func ExampleBatcher() {
	train, _ := data.Synthetic(data.SyntheticOptions{NTrain: 100, Seed: 1})
	b := data.NewBatcher(train, 32, true, 7)
	x, y := make([]float32, 32*train.D), make([]int32, 32)
	for range 5 {
		epoch, i := b.Next(x, y)
		fmt.Printf("epoch %d batch %d\n", epoch, i)
	}

	// Resume elsewhere from a saved position.
	st := b.State()
	c := data.NewBatcher(train, 32, true, 7)
	if err := c.Restore(st); err != nil {
		fmt.Println(err)
	}
	epoch, i := c.Next(x, y)
	fmt.Printf("resumed: epoch %d batch %d\n", epoch, i)
	// Output:
	// epoch 0 batch 0
	// epoch 0 batch 1
	// epoch 0 batch 2
	// epoch 1 batch 0
	// epoch 1 batch 1
	// resumed: epoch 1 batch 2
}

func ExampleSequential() {
	_, test := data.Synthetic(data.SyntheticOptions{NTest: 10, Seed: 1})
	it := data.NewSequential(test, 4)
	x, y := make([]float32, 4*test.D), make([]int32, 4)
	for rows, ok := it.Next(x, y); ok; rows, ok = it.Next(x, y) {
		fmt.Println(rows, "valid rows")
	}
	// Output:
	// 4 valid rows
	// 4 valid rows
	// 2 valid rows
}
