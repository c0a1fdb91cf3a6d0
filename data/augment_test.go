package data

import (
	"math"
	"slices"
	"testing"
)

// distinctImages returns n images of shape [h w c] whose values are all
// distinct and nonzero, so that any output value reveals its source.
func distinctImages(n, h, w, c int) []float32 {
	x := make([]float32, n*h*w*c)
	for i := range x {
		x[i] = float32(i + 1)
	}
	return x
}

// bruteAugment pads the image with p zeros on every side, crops the
// h×w window at (p+dy, p+dx) and mirrors it if flip.
func bruteAugment(img []float32, h, w, c, p, dy, dx int, flip bool) []float32 {
	ph, pw := h+2*p, w+2*p
	padded := make([]float32, ph*pw*c)
	for y := range h {
		for x := range w {
			for k := range c {
				padded[((y+p)*pw+x+p)*c+k] = img[(y*w+x)*c+k]
			}
		}
	}
	out := make([]float32, h*w*c)
	for y := range h {
		for x := range w {
			sx := x
			if flip {
				sx = w - 1 - x
			}
			for k := range c {
				out[(y*w+x)*c+k] = padded[((y+p+dy)*pw+sx+p+dx)*c+k]
			}
		}
	}
	return out
}

func TestAugmentMatchesBruteForce(t *testing.T) {
	for _, c := range []struct {
		a       Augment
		h, w, c int
	}{
		{Augment{Pad: 4, Flip: true}, 8, 6, 3},
		{Augment{Pad: 2}, 5, 7, 1},
		{Augment{Flip: true}, 4, 5, 2},
		{Augment{Pad: 6, Flip: true}, 3, 5, 3}, // shifts past the whole image
		{Augment{Pad: 1, Flip: true}, 1, 1, 1},
	} {
		const rows = 40
		d := c.h * c.w * c.c
		orig := distinctImages(rows+1, c.h, c.w, c.c)
		x := slices.Clone(orig)
		c.a.Apply(x, rows, []int{c.h, c.w, c.c}, 11, 2, 5)
		var dr augmentDraws
		dr.start(c.a, 11, 2, 5)
		for i := range rows {
			dy, dx, flip := dr.next()
			if max(-dy, dy, -dx, dx) > c.a.Pad || (flip && !c.a.Flip) {
				t.Fatalf("%+v: draw (%d, %d, %v) out of range", c.a, dy, dx, flip)
			}
			want := bruteAugment(orig[i*d:(i+1)*d], c.h, c.w, c.c, c.a.Pad, dy, dx, flip)
			if !slices.Equal(x[i*d:(i+1)*d], want) {
				t.Fatalf("%+v shape [%d %d %d] sample %d (shift %d,%d flip %v):\n got %v\nwant %v",
					c.a, c.h, c.w, c.c, i, dy, dx, flip, x[i*d:(i+1)*d], want)
			}
		}
		if !slices.Equal(x[rows*d:], orig[rows*d:]) {
			t.Errorf("%+v: Apply touched the sample past rows", c.a)
		}
	}
}

// TestAugmentOffsets recovers every sample's shift and flip by searching
// all candidates with the brute-force version, without the internal
// draws, and checks their distribution.
func TestAugmentOffsets(t *testing.T) {
	const h, w, c, pad, rows = 7, 9, 3, 2, 2000
	d := h * w * c
	a := Augment{Pad: pad, Flip: true}
	orig := distinctImages(rows, h, w, c)
	x := slices.Clone(orig)
	a.Apply(x, rows, []int{h, w, c}, 3, 0, 0)
	counts := map[[2]int]int{}
	flips := 0
	for i := range rows {
		var found [][3]int
		for dy := -pad; dy <= pad; dy++ {
			for dx := -pad; dx <= pad; dx++ {
				for f := range 2 {
					if slices.Equal(bruteAugment(orig[i*d:(i+1)*d], h, w, c, pad, dy, dx, f == 1), x[i*d:(i+1)*d]) {
						found = append(found, [3]int{dy, dx, f})
					}
				}
			}
		}
		if len(found) != 1 {
			t.Fatalf("sample %d matches %d (shift, flip) candidates, want 1", i, len(found))
		}
		counts[[2]int{found[0][0], found[0][1]}]++
		flips += found[0][2]
	}
	// 25 shifts, 80 expected each; flips about half.
	if len(counts) != 25 {
		t.Errorf("%d distinct shifts, want 25", len(counts))
	}
	var chi2 float64
	for _, n := range counts {
		chi2 += (float64(n) - 80) * (float64(n) - 80) / 80
	}
	if chi2 > 55 { // 24 degrees of freedom: P(χ² > 55) < 3e-4
		t.Errorf("χ² = %.1f over the shifts %v, want uniform", chi2, counts)
	}
	if math.Abs(float64(flips)-rows/2) > 4*math.Sqrt(rows/4) {
		t.Errorf("%d flips in %d samples, want about half", flips, rows)
	}
}

func TestAugmentZeroBorder(t *testing.T) {
	const h, w, c, pad, rows = 6, 8, 3, 4, 200
	d := h * w * c
	x := make([]float32, rows*d)
	for i := range x {
		x[i] = 1
	}
	Augment{Pad: pad, Flip: true}.Apply(x, rows, []int{h, w, c}, 9, 1, 1)
	var dr augmentDraws
	dr.start(Augment{Pad: pad, Flip: true}, 9, 1, 1)
	sawZero := false
	for i := range rows {
		dy, dx, flip := dr.next()
		// Zero rows: the top −dy rows or the bottom dy; columns likewise,
		// mirrored by a flip.
		if flip {
			dx = -dx
		}
		for y := range h {
			for xx := range w {
				outside := y < -dy || y >= h-dy || xx < -dx || xx >= w-dx
				for k := range c {
					v := x[i*d+(y*w+xx)*c+k]
					if outside && v != 0 || !outside && v != 1 {
						t.Fatalf("sample %d (shift %d,%d): pixel (%d,%d) channel %d is %v, want %v", i, dy, dx, y, xx, k, v, map[bool]int{true: 0, false: 1}[outside])
					}
					sawZero = sawZero || v == 0
				}
			}
		}
	}
	if !sawZero {
		t.Error("no zero padding appeared in 200 samples")
	}
}

func TestAugmentFlipIsMirror(t *testing.T) {
	const h, w, c, rows = 3, 5, 2, 64
	d := h * w * c
	orig := distinctImages(rows, h, w, c)
	x := slices.Clone(orig)
	Augment{Flip: true}.Apply(x, rows, []int{h, w, c}, 1, 0, 0)
	mirrored, kept := 0, 0
	for i := range rows {
		img, src := x[i*d:(i+1)*d], orig[i*d:(i+1)*d]
		if slices.Equal(img, src) {
			kept++
			continue
		}
		for y := range h {
			for xx := range w {
				for k := range c {
					if img[(y*w+xx)*c+k] != src[(y*w+w-1-xx)*c+k] {
						t.Fatalf("sample %d is neither the image nor its mirror", i)
					}
				}
			}
		}
		mirrored++
		// Mirroring twice restores the image.
		mirrorImage(img, h, w, c)
		if !slices.Equal(img, src) {
			t.Fatalf("sample %d: mirroring twice is not the identity", i)
		}
	}
	if mirrored == 0 || kept == 0 {
		t.Errorf("%d mirrored, %d kept, want both", mirrored, kept)
	}

	y := slices.Clone(orig)
	Augment{}.Apply(y, rows, []int{h, w, c}, 1, 0, 0)
	if !slices.Equal(y, orig) {
		t.Error("the zero Augment changed the images")
	}
}

func TestAugmentStreams(t *testing.T) {
	const rows = 16
	shape := []int{6, 6, 3}
	a := Augment{Pad: 4, Flip: true}
	orig := distinctImages(rows, 6, 6, 3)
	run := func(seed uint64, epoch, batch int) []float32 {
		x := slices.Clone(orig)
		a.Apply(x, rows, shape, seed, epoch, batch)
		return x
	}
	ref := run(7, 3, 2)
	// Recomputed after other batches, the same draws: resumable.
	run(7, 0, 0)
	run(8, 3, 2)
	if !slices.Equal(run(7, 3, 2), ref) {
		t.Error("the same (seed, epoch, batch) gave another augmentation")
	}
	for _, o := range []struct {
		seed         uint64
		epoch, batch int
	}{{8, 3, 2}, {7, 4, 2}, {7, 3, 3}, {7, 2, 3}, {7, 0, 0}} {
		if slices.Equal(run(o.seed, o.epoch, o.batch), ref) {
			t.Errorf("(seed, epoch, batch) = %v gave the augmentation of (7, 3, 2)", o)
		}
	}
	// The draws differ from the shuffling stream of the same seed.
	var dr augmentDraws
	dr.start(a, 7, 0, 1)
	sh := newStream(7, 1)
	same := 0
	for range 50 {
		dy, _, _ := dr.next()
		if dy+4 == sh.intn(9) {
			same++
		}
	}
	if same > 20 {
		t.Errorf("%d of 50 draws agree with the Batcher stream", same)
	}
}

func TestAugmentNoAlloc(t *testing.T) {
	x := distinctImages(32, 32, 32, 3)
	a := Augment{Pad: 4, Flip: true}
	shape := []int{32, 32, 3}
	batch := 0
	if n := testing.AllocsPerRun(20, func() {
		a.Apply(x, 32, shape, 1, 0, batch)
		batch++
	}); n != 0 {
		t.Errorf("Apply allocates %v times per call", n)
	}
}

func TestAugmentPanics(t *testing.T) {
	x := make([]float32, 2*12)
	for _, c := range []struct {
		name  string
		a     Augment
		rows  int
		shape []int
		epoch int
	}{
		{"shape rank", Augment{Pad: 1}, 2, []int{12}, 0},
		{"zero dim", Augment{Pad: 1}, 2, []int{2, 0, 3}, 0},
		{"short x", Augment{Pad: 1}, 3, []int{2, 2, 3}, 0},
		{"negative pad", Augment{Pad: -1}, 2, []int{2, 2, 3}, 0},
		{"negative epoch", Augment{Pad: 1}, 2, []int{2, 2, 3}, -1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			c.a.Apply(x, c.rows, c.shape, 0, c.epoch, 0)
		}()
	}
}

func BenchmarkAugmentCIFARBatch(b *testing.B) {
	x := distinctImages(128, 32, 32, 3)
	a := Augment{Pad: 4, Flip: true}
	shape := []int{32, 32, 3}
	for i := 0; b.Loop(); i++ {
		a.Apply(x, 128, shape, 1, 0, i)
	}
}
