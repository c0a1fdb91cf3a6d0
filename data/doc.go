// Package data loads image-classification data sets into memory and deals
// them out in batches.
//
// It reads the IDX format of the MNIST family (plain or gzip-compressed),
// loads MNIST and Fashion-MNIST, the CIFAR-10 binary distribution and
// image folders (train/<class>/<image>, test/<class>/<image>, as a
// directory or a tar.gz), makes synthetic Gaussian-cluster sets,
// normalises, batches with a seeded, resumable shuffle, and augments
// batches with seeded random crops and flips:
//
//	train, test, err := data.ImageFolder("cifar10-jpeg.tar.gz") // or data.CIFAR10(dir)
//	if err != nil {
//		log.Fatal(err)
//	}
//	mean, std := data.ChannelStats(train) // or data.CIFAR10MeanStd()
//	train.NormalizeChannels(mean, std)
//	test.NormalizeChannels(mean, std)
//
//	const seed = 1
//	b := data.NewBatcher(train, 128, true, seed)
//	aug := data.Augment{Pad: 4, Flip: true}
//	x, y := make([]float32, 128*train.D), make([]int32, 128)
//	for range 10 * b.BatchesPerEpoch() {
//		epoch, i := b.Next(x, y)
//		aug.Apply(x, 128, train.Shape, seed, epoch, i) // pads normalised images with 0
//		// train on x, y
//	}
//	state := b.State() // store with a checkpoint; Restore(state) resumes exactly
//	_ = state
//
// MNIST comes with the GoMNIST module (see DefaultMNISTDir) and is
// normalised with one scalar pair, data.Stats and Set.Standardize. Other
// data sets live in the data root, $LWCA_DATA (see Root), one folder per
// data set: DefaultCIFAR10Dir and DefaultFashionMNISTDir look there.
//
// Pixels are scaled to [0, 1] at load, so Stats, ChannelStats and the
// normalisations work on that scale. Samples are stored row-major in
// Set.X with shape Set.Shape; images are channels last, [H W C]: [28 28 1]
// for MNIST, [32 32 3] for CIFAR-10.
package data
