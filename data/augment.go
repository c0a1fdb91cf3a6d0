package data

import "fmt"

// Augment is the usual training-time augmentation of small natural
// images: a random crop of the image zero-padded by Pad pixels on every
// side, which shifts the content by up to Pad pixels in each direction
// and fills the uncovered border with zeros, followed, if Flip is set,
// by a left-right mirror with probability 1/2. The zero value does
// nothing.
//
// The padding value is 0 in whatever units the batch holds. The ResNet
// recipe for CIFAR-10 pads images that are already normalised, so that
// the border is the mean colour; to follow it, normalise the set once
// with NormalizeChannels and apply Augment to the batches dealt from it:
//
//	mean, std := data.CIFAR10MeanStd()
//	train.NormalizeChannels(mean, std)
//	test.NormalizeChannels(mean, std)
//	b := data.NewBatcher(train, 128, true, seed)
//	aug := data.Augment{Pad: 4, Flip: true}
//	epoch, i := b.Next(x, y)
//	aug.Apply(x, 128, train.Shape, seed, epoch, i)
//
// Applied to unnormalised pixels in [0, 1], the border would be black.
type Augment struct {
	Pad  int  // largest shift in pixels, each direction; 0 disables cropping
	Flip bool // mirror left-right with probability 1/2
}

// augmentSalt separates the augmentation streams from the shuffling
// streams drawn from the same seed.
const augmentSalt = 0x41756741756741ff

// Apply augments, in place, the first rows samples of x, each an image
// of the given shape [H W C], channels last. The random draws come from
// a stream determined by (seed, epoch, batch) alone, so a batch is
// augmented the same way whenever it is dealt again, for example after
// resuming from a checkpoint, and differently in every other batch or
// epoch. Every sample takes its own crop offset and flip. Apply does not
// allocate. It panics if shape is not [H W C] with positive entries, if
// x holds fewer than rows samples, or if Pad, epoch or batch is
// negative.
func (a Augment) Apply(x []float32, rows int, shape []int, seed uint64, epoch, batch int) {
	if len(shape) != 3 || shape[0] <= 0 || shape[1] <= 0 || shape[2] <= 0 {
		panic(fmt.Sprintf("data: Augment.Apply: shape %v, want [H W C] with positive entries", shape))
	}
	h, w, c := shape[0], shape[1], shape[2]
	d := h * w * c
	switch {
	case rows < 0 || len(x) < rows*d:
		panic(fmt.Sprintf("data: Augment.Apply: %d values for %d samples of %d", len(x), rows, d))
	case a.Pad < 0:
		panic(fmt.Sprintf("data: Augment.Apply: Pad=%d, want ≥ 0", a.Pad))
	case epoch < 0 || batch < 0:
		panic(fmt.Sprintf("data: Augment.Apply: epoch %d, batch %d, want ≥ 0", epoch, batch))
	}
	var dr augmentDraws
	dr.start(a, seed, epoch, batch)
	for i := range rows {
		dy, dx, flip := dr.next()
		img := x[i*d : (i+1)*d]
		if dy != 0 || dx != 0 {
			shiftImage(img, h, w, c, dy, dx)
		}
		if flip {
			mirrorImage(img, h, w, c)
		}
	}
}

// augmentDraws yields the per-sample draws of Apply in order.
type augmentDraws struct {
	a Augment
	r stream
}

func (d *augmentDraws) start(a Augment, seed uint64, epoch, batch int) {
	d.a = a
	d.r.seed(splitmix64(seed^augmentSalt), uint64(epoch)<<32^uint64(batch))
}

// next returns the shift of the next sample: output pixel (y, x) is input
// pixel (y+dy, x+dx), or 0 outside the image; then whether to mirror.
func (d *augmentDraws) next() (dy, dx int, flip bool) {
	if p := d.a.Pad; p > 0 {
		dy = d.r.intn(2*p+1) - p
		dx = d.r.intn(2*p+1) - p
	}
	if d.a.Flip {
		flip = d.r.pcg.Uint64()>>63 == 1
	}
	return dy, dx, flip
}

// shiftImage sets img(y, x) to img(y+dy, x+dx), or to 0 where that falls
// outside, in place. Rows are visited so that a source row is read
// before it is overwritten; within a row copy handles the overlap.
func shiftImage(img []float32, h, w, c, dy, dx int) {
	x0, x1 := max(0, -dx), min(w, w-dx) // output columns that have a source
	y0, y1 := max(0, -dy), min(h, h-dy) // output rows that have a source
	if x0 >= x1 || y0 >= y1 {
		clear(img)
		return
	}
	stride := w * c
	y, end, step := y0, y1, 1
	if dy < 0 {
		y, end, step = y1-1, y0-1, -1
	}
	for ; y != end; y += step {
		dst := img[y*stride : (y+1)*stride]
		src := img[(y+dy)*stride : (y+dy+1)*stride]
		copy(dst[x0*c:x1*c], src[(x0+dx)*c:(x1+dx)*c])
		clear(dst[:x0*c])
		clear(dst[x1*c:])
	}
	clear(img[:y0*stride])
	clear(img[y1*stride:])
}

// mirrorImage reverses the order of the pixels of every row of img.
func mirrorImage(img []float32, h, w, c int) {
	stride := w * c
	for y := range h {
		row := img[y*stride : (y+1)*stride]
		for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
			a, b := row[i*c:(i+1)*c], row[j*c:(j+1)*c]
			for k := range c {
				a[k], b[k] = b[k], a[k]
			}
		}
	}
}
