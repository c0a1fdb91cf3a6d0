package data

import (
	"bytes"
	"image"
	"image/color"
	"math/rand/v2"
	"slices"
	"testing"
)

// FuzzCIFAR10Record checks the CIFAR-10 batch parser: it accepts exactly
// the whole-record inputs whose labels are below 10, and then every value
// is the byte of its plane divided by 255.
func FuzzCIFAR10Record(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	f.Add(cifarBatch(r, 1))
	f.Add(cifarBatch(r, 2))
	bad := cifarBatch(r, 2)
	bad[3073] = 200
	f.Add(bad)
	f.Add(cifarBatch(r, 1)[:3000])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := len(b) / cifarRecord
		sizeErr := checkCIFARSize("fuzz.bin", int64(len(b)))
		if (sizeErr == nil) != (len(b) > 0 && len(b)%cifarRecord == 0) {
			t.Fatalf("%d bytes: size check says %v", len(b), sizeErr)
		}
		if sizeErr != nil {
			return
		}
		x := make([]float32, n*cifarPixels)
		y := make([]int32, n)
		err := decodeCIFAR("fuzz.bin", b, x, y)
		firstBad := -1
		for i := range n {
			if b[i*cifarRecord] > 9 {
				firstBad = i
				break
			}
		}
		if firstBad >= 0 {
			if err == nil {
				t.Fatalf("label %d of record %d accepted", b[firstBad*cifarRecord], firstBad)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			rec := b[i*cifarRecord:]
			if y[i] != int32(rec[0]) {
				t.Fatalf("record %d: label %d, want %d", i, y[i], rec[0])
			}
			for p := range 1024 {
				for c := range 3 {
					if got, want := x[i*cifarPixels+3*p+c], float32(rec[1+c*1024+p])/255; got != want {
						t.Fatalf("record %d pixel %d channel %d: %v, want %v", i, p, c, got, want)
					}
				}
			}
		}
	})
}

// FuzzImageFolderTar checks that the image-folder reader never panics on
// a tar or tar.gz stream, and that what it accepts is consistent and
// loads the same way twice.
func FuzzImageFolderTar(f *testing.F) {
	r := rand.New(rand.NewPCG(2, 2))
	png := func(w, h int) []byte { return pngBytes(f, randomColour(r, w, h, false).img) }
	grey := image.NewGray(image.Rect(0, 0, 3, 2))
	grey.SetGray(1, 1, color.Gray{200})
	layout := []tarEntry{
		{"train/a/1.png", png(3, 2)}, {"train/b/2.png", png(3, 2)},
		{"test/a/3.png", png(3, 2)}, {"test/b/4.png", pngBytes(f, grey)},
	}
	f.Add(tarBytes(f, layout, false))
	f.Add(tarBytes(f, layout, true))
	top := []tarEntry{{name: "set/"}}
	for _, e := range layout {
		top = append(top, tarEntry{"set/" + e.name, e.data})
	}
	f.Add(tarBytes(f, top, false))
	f.Add(tarBytes(f, []tarEntry{
		{"train/a/1.jpg", jpegBytes(f, grey, 80)}, {"test/a/1.jpg", jpegBytes(f, grey, 80)},
	}, false))
	f.Add(tarBytes(f, []tarEntry{{"train/a/1.png", png(2, 2)}, {"test/b/1.png", png(2, 2)}}, false))

	defer func(limit int) { imagePixelLimit = limit }(imagePixelLimit)
	imagePixelLimit = 1 << 12 // fuzzed headers must not cost much memory
	f.Fuzz(func(t *testing.T, b []byte) {
		load := func() (*Set, *Set, error) {
			a, err := newArchiveReader(bytes.NewReader(b), "fuzz.tar")
			if err != nil {
				return nil, nil, err
			}
			files, err := readImageEntries(a)
			if err != nil {
				return nil, nil, err
			}
			return imageFolderSets("fuzz.tar", files)
		}
		train, test, err := load()
		if err != nil {
			if train != nil || test != nil {
				t.Fatal("sets returned with an error")
			}
			return
		}
		for _, s := range []*Set{train, test} {
			if err := s.Check(); err != nil {
				t.Fatal(err)
			}
			if s.N == 0 || len(s.Shape) != 3 || (s.Shape[2] != 1 && s.Shape[2] != 3) || len(s.ClassNames) != s.Classes {
				t.Fatalf("%s: N=%d Shape=%v ClassNames=%v", s.Name, s.N, s.Shape, s.ClassNames)
			}
			if !slices.IsSorted(s.ClassNames) || !slices.IsSorted(s.Y) {
				t.Fatalf("%s: classes %v, labels %v: want both sorted", s.Name, s.ClassNames, s.Y)
			}
			for _, v := range s.X {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("%s: value %v outside [0, 1]", s.Name, v)
				}
			}
		}
		if !slices.Equal(train.Shape, test.Shape) || !slices.Equal(train.ClassNames, test.ClassNames) {
			t.Fatalf("train %v %v, test %v %v", train.Shape, train.ClassNames, test.Shape, test.ClassNames)
		}
		train2, test2, err := load()
		if err != nil || !setsEqual(train, train2) || !setsEqual(test, test2) {
			t.Fatalf("second load differs (%v)", err)
		}
	})
}
