package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func pngBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB, img image.Image, quality int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// refImage is a fixture image with the pixels a loader must produce for
// it, taken from the bytes it was built from.
type refImage struct {
	img  image.Image
	grey []float32 // h·w values, for a one-channel set
	rgb  []float32 // h·w·3 values, for a colour set
}

// randomColour returns a w×h NRGBA image; translucent pixels too unless
// opaque, since alpha must be dropped without touching the colour.
func randomColour(r *rand.Rand, w, h int, opaque bool) refImage {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = byte(r.UintN(256))
	}
	ref := refImage{img: m}
	for p := range w * h {
		if opaque {
			m.Pix[4*p+3] = 255
		} else {
			m.Pix[4*p+3] = byte(1 + r.UintN(255))
		}
		for k := range 3 {
			ref.rgb = append(ref.rgb, float32(m.Pix[4*p+k])/255)
		}
	}
	return ref
}

func randomGrey(r *rand.Rand, w, h int) refImage {
	m := image.NewGray(image.Rect(0, 0, w, h))
	ref := refImage{img: m}
	for i := range m.Pix {
		m.Pix[i] = byte(r.UintN(256))
		v := float32(m.Pix[i]) / 255
		ref.grey = append(ref.grey, v)
		ref.rgb = append(ref.rgb, v, v, v)
	}
	return ref
}

func randomGrey16(r *rand.Rand, w, h int) refImage {
	m := image.NewGray16(image.Rect(0, 0, w, h))
	ref := refImage{img: m}
	for p := range w * h {
		v := uint16(r.UintN(1 << 16))
		binary.BigEndian.PutUint16(m.Pix[2*p:], v)
		f := float32(v) / 65535
		ref.grey = append(ref.grey, f)
		ref.rgb = append(ref.rgb, f, f, f)
	}
	return ref
}

// randomPaletted uses a palette of grey or of coloured entries.
func randomPaletted(r *rand.Rand, w, h int, grey bool) refImage {
	var pal color.Palette
	for range 7 {
		v := [3]byte{byte(r.UintN(256)), byte(r.UintN(256)), byte(r.UintN(256))}
		if grey {
			v[1], v[2] = v[0], v[0]
		}
		pal = append(pal, color.RGBA{v[0], v[1], v[2], 255})
	}
	m := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	ref := refImage{img: m}
	for i := range m.Pix {
		m.Pix[i] = byte(r.UintN(uint(len(pal))))
		c := pal[m.Pix[i]].(color.RGBA)
		ref.grey = append(ref.grey, float32(c.R)/255)
		ref.rgb = append(ref.rgb, float32(c.R)/255, float32(c.G)/255, float32(c.B)/255)
	}
	return ref
}

// folderFixture is a small image folder: rel path → image, plus files a
// loader must ignore.
type folderFixture struct {
	images map[string]refImage
	extra  map[string][]byte
}

func (f folderFixture) entries(t testing.TB, prefix string) []tarEntry {
	var es []tarEntry
	for _, rel := range slices.Sorted(mapKeys(f.images)) {
		es = append(es, tarEntry{prefix + rel, pngBytes(t, f.images[rel].img)})
	}
	for _, rel := range slices.Sorted(mapKeys(f.extra)) {
		es = append(es, tarEntry{prefix + rel, f.extra[rel]})
	}
	return es
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// writeTree writes entries below dir.
func writeTree(t testing.TB, dir string, es []tarEntry) {
	t.Helper()
	for _, e := range es {
		p := filepath.Join(dir, filepath.FromSlash(e.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, e.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var junk = map[string][]byte{
	"README.md":              []byte("# images"),
	"train/cat/.DS_Store":    []byte("junk"),
	"train/cat/._x.png":      []byte("AppleDouble junk"),
	".cache/train/cat/1.png": []byte("not a png"),
	"train/dog/notes.txt":    []byte("text"),
}

// checkFolder compares a loaded split with the fixture images, in the
// order the loader must use.
func checkFolder(t *testing.T, s *Set, fx folderFixture, split string, order []string, classes []string, c int) {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	first := fx.images[split+"/"+order[0]].img.Bounds()
	w, h := first.Dx(), first.Dy()
	if s.N != len(order) || !slices.Equal(s.Shape, []int{h, w, c}) || !slices.Equal(s.ClassNames, classes) || s.Classes != len(classes) {
		t.Fatalf("%s: N=%d Shape=%v ClassNames=%v, want %d, [%d %d %d], %v", s.Name, s.N, s.Shape, s.ClassNames, len(order), h, w, c, classes)
	}
	for i, rel := range order {
		class, _, _ := strings.Cut(rel, "/")
		if want := slices.Index(classes, class); s.Y[i] != int32(want) {
			t.Errorf("%s: sample %d (%s): label %d, want %d", s.Name, i, rel, s.Y[i], want)
		}
		ref := fx.images[split+"/"+rel]
		want := ref.rgb
		if c == 1 {
			want = ref.grey
		}
		if !slices.Equal(s.Row(i), want) {
			t.Fatalf("%s: sample %d (%s): pixels differ from the source", s.Name, i, rel)
		}
	}
}

func TestImageFolderLayouts(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	const w, h = 5, 4 // not square, to catch a transposition
	colour := folderFixture{images: map[string]refImage{
		"train/dog/b.png":  randomColour(r, w, h, true),
		"train/dog/a.png":  randomColour(r, w, h, false),
		"train/cat/x.png":  randomPaletted(r, w, h, false),
		"train/cat/10.png": randomGrey(r, w, h), // grey among colour: repeated
		"train/cat/9.png":  randomColour(r, w, h, false),
		"test/cat/t1.png":  randomColour(r, w, h, true),
		"test/dog/t0.png":  randomGrey16(r, w, h),
		"test/dog/t2.png":  randomColour(r, w, h, false),
		"notes/extra.png":  randomColour(r, 2, 2, true), // outside the splits
	}, extra: junk}
	grey := folderFixture{images: map[string]refImage{
		"train/b/1.png": randomGrey(r, w, h),
		"train/a/1.png": randomGrey16(r, w, h),
		"train/a/2.png": randomPaletted(r, w, h, true),
		"test/a/1.png":  randomGrey(r, w, h),
		"test/b/1.png":  randomGrey(r, w, h),
	}}

	for _, c := range []struct {
		name                string
		fx                  folderFixture
		trainOrder, testOrd []string
		classes             []string
		channels            int
	}{
		{"colour", colour,
			[]string{"cat/10.png", "cat/9.png", "cat/x.png", "dog/a.png", "dog/b.png"},
			[]string{"cat/t1.png", "dog/t0.png", "dog/t2.png"}, []string{"cat", "dog"}, 3},
		{"grey", grey, []string{"a/1.png", "a/2.png", "b/1.png"}, []string{"a/1.png", "b/1.png"}, []string{"a", "b"}, 1},
	} {
		dir := t.TempDir()
		writeTree(t, dir, c.fx.entries(t, ""))
		topDir := t.TempDir()
		writeTree(t, topDir, c.fx.entries(t, "myset/"))
		arch := t.TempDir()
		gzTop := writeFile(t, arch, "myset.tar.gz", tarBytes(t, append([]tarEntry{{name: "myset/"}}, c.fx.entries(t, "myset/")...), true))
		plain := writeFile(t, arch, "plain.tar", tarBytes(t, c.fx.entries(t, "./"), false))
		tgz := writeFile(t, arch, "flat.tgz", tarBytes(t, c.fx.entries(t, ""), true))

		for _, l := range []struct{ path, name string }{
			{dir, filepath.Base(dir)}, {topDir, filepath.Base(topDir)},
			{gzTop, "myset"}, {plain, "plain"}, {tgz, "flat"},
		} {
			train, test, err := ImageFolder(l.path)
			if err != nil {
				t.Fatalf("%s %s: %v", c.name, l.path, err)
			}
			if train.Name != l.name+"/train" || test.Name != l.name+"/test" {
				t.Errorf("%s: names %q, %q, want %s/train, %s/test", l.path, train.Name, test.Name, l.name, l.name)
			}
			checkFolder(t, train, c.fx, "train", c.trainOrder, c.classes, c.channels)
			checkFolder(t, test, c.fx, "test", c.testOrd, c.classes, c.channels)
			sub := train.Subset(2)
			sub.ClassNames[0] = "changed"
			if train.ClassNames[0] != c.classes[0] {
				t.Error("Subset shares ClassNames with its parent")
			}
		}
	}
}

func TestImageFolderJPEG(t *testing.T) {
	// Smooth images, so that JPEG's loss stays small.
	const w, h = 16, 12
	smooth := func(phase float64, grey bool) (image.Image, []float32) {
		var ref []float32
		if grey {
			m := image.NewGray(image.Rect(0, 0, w, h))
			for y := range h {
				for x := range w {
					v := byte(128 + 100*math.Sin(phase+float64(x)/5+float64(y)/7))
					m.SetGray(x, y, color.Gray{v})
					ref = append(ref, float32(v)/255)
				}
			}
			return m, ref
		}
		m := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				c := color.RGBA{
					byte(128 + 100*math.Sin(phase+float64(x)/6)),
					byte(128 + 90*math.Cos(phase+float64(y)/5)),
					byte(120 + 80*math.Sin(phase+float64(x+y)/8)),
					255,
				}
				m.SetRGBA(x, y, c)
				ref = append(ref, float32(c.R)/255, float32(c.G)/255, float32(c.B)/255)
			}
		}
		return m, ref
	}
	for _, grey := range []bool{false, true} {
		var es []tarEntry
		refs := map[string][]float32{}
		for i, rel := range []string{"train/a/1.jpg", "train/b/1.JPEG", "test/a/2.jpeg", "test/b/0.jpg"} {
			img, ref := smooth(float64(i), grey)
			es = append(es, tarEntry{rel, jpegBytes(t, img, 95)})
			refs[rel] = ref
		}
		p := writeFile(t, t.TempDir(), "j.tar.gz", tarBytes(t, es, true))
		train, test, err := ImageFolder(p)
		if err != nil {
			t.Fatal(err)
		}
		c := 3
		if grey {
			c = 1
		}
		for _, x := range []struct {
			s    *Set
			rels []string
		}{{train, []string{"train/a/1.jpg", "train/b/1.JPEG"}}, {test, []string{"test/a/2.jpeg", "test/b/0.jpg"}}} {
			if !slices.Equal(x.s.Shape, []int{h, w, c}) || x.s.N != 2 || x.s.Y[0] != 0 || x.s.Y[1] != 1 {
				t.Fatalf("grey=%v %s: Shape %v N=%d Y=%v, want [%d %d %d], 2, [0 1]", grey, x.s.Name, x.s.Shape, x.s.N, x.s.Y, h, w, c)
			}
			for i, rel := range x.rels {
				var sum, worst float64
				for j, v := range x.s.Row(i) {
					d := math.Abs(float64(v - refs[rel][j]))
					sum += d
					worst = max(worst, d)
				}
				// Chroma subsampling makes colour less exact than grey.
				tolMean, tolWorst := 0.03, 0.12
				if grey {
					tolMean, tolWorst = 0.01, 0.05
				}
				if mean := sum / float64(x.s.D); mean > tolMean || worst > tolWorst {
					t.Errorf("grey=%v %s: mean error %.4f, worst %.4f, want ≤ %v, %v", grey, rel, mean, worst, tolMean, tolWorst)
				}
			}
		}
	}
}

// TestImageFolderDeterministic loads the same folder with different
// numbers of decoding goroutines.
func TestImageFolderDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	fx := folderFixture{images: map[string]refImage{}}
	for i := range 300 {
		split := []string{"train", "test"}[i%2]
		fx.images[split+"/"+[]string{"p", "q", "r"}[i%3]+"/"+string(rune('a'+i%26))+strings.Repeat("z", i/26)+".png"] = randomColour(r, 3, 3, i%5 == 0)
	}
	p := writeFile(t, t.TempDir(), "d.tar", tarBytes(t, fx.entries(t, "top/"), false))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var ref [2]*Set
	for _, procs := range []int{1, 3, 8} {
		runtime.GOMAXPROCS(procs)
		train, test, err := ImageFolder(p)
		if err != nil {
			t.Fatal(err)
		}
		if ref[0] == nil {
			ref = [2]*Set{train, test}
			continue
		}
		if !setsEqual(train, ref[0]) || !setsEqual(test, ref[1]) {
			t.Errorf("GOMAXPROCS=%d gave other sets than GOMAXPROCS=1", procs)
		}
	}
}

func TestImageFolderErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	img := func(w, h int) []byte { return pngBytes(t, randomColour(r, w, h, true).img) }
	huge := img(2, 2)
	binary.BigEndian.PutUint32(huge[16:], 100000) // IHDR width and height
	binary.BigEndian.PutUint32(huge[20:], 100000)

	// Compressible content, so that a damaged byte hits deflate codes.
	big := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range big.Pix {
		big.Pix[i] = byte(i / 64)
	}
	var many []tarEntry
	for i := range 20 {
		many = append(many, tarEntry{"train/a/" + string(rune('a'+i)) + ".png", pngBytes(t, big)}, tarEntry{"test/a/" + string(rune('a'+i)) + ".png", pngBytes(t, big)})
	}
	corrupt := tarBytes(t, many, true)
	for i := len(corrupt) / 2; i < len(corrupt)/2+16; i++ {
		corrupt[i] ^= 0xa5
	}

	cases := []struct {
		name    string
		entries []tarEntry
		raw     []byte // the archive itself, instead of entries
		want    []string
	}{
		{"mixed sizes", []tarEntry{
			{"train/cat/a.png", img(5, 4)}, {"train/dog/z.png", img(4, 5)}, {"test/cat/b.png", img(6, 4)}, {"test/dog/b.png", img(5, 4)},
		}, nil, []string{"train/dog/z.png", "4x5", "want 5x4", "train/cat/a.png", "same size"}},
		{"size in test", []tarEntry{
			{"train/cat/a.png", img(5, 4)}, {"train/dog/z.png", img(5, 4)}, {"test/cat/b.png", img(5, 4)}, {"test/dog/b.png", img(5, 3)},
		}, nil, []string{"test/dog/b.png", "5x3"}},
		{"classes differ", []tarEntry{
			{"train/cat/a.png", img(2, 2)}, {"train/dog/a.png", img(2, 2)}, {"test/cat/a.png", img(2, 2)}, {"test/bird/a.png", img(2, 2)},
		}, nil, []string{"different classes", "only in train: dog", "only in test: bird"}},
		{"no test split", []tarEntry{{"train/cat/a.png", img(2, 2)}}, nil, []string{"no test images"}},
		{"no train split", []tarEntry{{"test/cat/a.png", img(2, 2)}}, nil, []string{"no training images"}},
		{"image in split folder", []tarEntry{
			{"train/cat/a.png", img(2, 2)}, {"test/cat/a.png", img(2, 2)}, {"train/b.png", img(2, 2)},
		}, nil, []string{"train/b.png", "outside a class folder"}},
		{"nested too deep", []tarEntry{
			{"train/cat/a.png", img(2, 2)}, {"test/cat/a.png", img(2, 2)}, {"train/cat/sub/b.png", img(2, 2)},
		}, nil, []string{"train/cat/sub/b.png", "outside a class folder"}},
		{"two roots", []tarEntry{{"a/train/cat/a.png", img(2, 2)}, {"b/test/cat/a.png", img(2, 2)}}, nil, []string{"a/, b/"}},
		{"no images", []tarEntry{{"readme.txt", []byte("hi")}}, nil, []string{"no images laid out"}},
		{"not an image", []tarEntry{
			{"train/cat/a.png", img(2, 2)}, {"test/cat/a.png", []byte("GIF89a....")},
		}, nil, []string{"test/cat/a.png", "not a JPEG or PNG image"}},
		{"truncated png", []tarEntry{
			{"train/cat/a.png", img(2, 2)}, {"test/cat/a.png", img(2, 2)[:45]},
		}, nil, []string{"test/cat/a.png"}},
		{"huge header", []tarEntry{
			{"train/cat/a.png", huge}, {"test/cat/a.png", img(2, 2)},
		}, nil, []string{"train/cat/a.png", "100000x100000"}},
		{"corrupt gzip", nil, corrupt, []string{"x.tar.gz", "corrupt gzip"}},
		{"truncated gzip", nil, corrupt[:100], []string{"x.tar.gz", "truncated"}},
		{"not gzip", nil, []byte("plain text"), []string{"not a gzip stream"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.raw
			if raw == nil {
				raw = tarBytes(t, c.entries, true)
			}
			paths := []string{writeFile(t, t.TempDir(), "x.tar.gz", raw)}
			if c.entries != nil {
				dir := t.TempDir()
				writeTree(t, dir, c.entries)
				paths = append(paths, dir)
			}
			for _, p := range paths {
				_, _, err := ImageFolder(p)
				if err == nil {
					t.Fatalf("%s: no error", p)
				}
				t.Log(err)
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
			}
		})
	}
}

// TestImageFolderCIFAR10JPEG loads the JPEG copy of CIFAR-10 from the
// data root, where CI puts it.
func TestImageFolderCIFAR10JPEG(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 60000 JPEG images")
	}
	dir, err := RootFolder(CIFAR10Folder)
	path := filepath.Join(dir, CIFAR10JPEGArchive)
	if err == nil {
		_, err = os.Stat(path)
	}
	if err != nil {
		msg := fmt.Sprintf("no JPEG copy of CIFAR-10 in the data root: %v (set %s to a folder holding cifar10/%s)", err, RootEnv, CIFAR10JPEGArchive)
		if os.Getenv("LWCA_REQUIRE_DATA") == "1" {
			t.Fatal("LWCA_REQUIRE_DATA=1 but " + msg)
		}
		t.Skip(msg)
	}
	start := time.Now()
	train, test, err := ImageFolder(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded in %v with GOMAXPROCS=%d", time.Since(start), runtime.GOMAXPROCS(0))
	classes := CIFAR10Classes()
	for _, c := range []struct {
		s        *Set
		n, per   int
		wantName string
	}{{train, 50000, 5000, "cifar10-jpeg/train"}, {test, 10000, 1000, "cifar10-jpeg/test"}} {
		if err := c.s.Check(); err != nil {
			t.Fatal(err)
		}
		if c.s.N != c.n || !slices.Equal(c.s.Shape, []int{32, 32, 3}) || !slices.Equal(c.s.ClassNames, classes) || c.s.Name != c.wantName {
			t.Errorf("%s: N=%d Shape=%v ClassNames=%v, want %s with %d, [32 32 3], %v", c.s.Name, c.s.N, c.s.Shape, c.s.ClassNames, c.wantName, c.n, classes)
		}
		for k, n := range c.s.ClassCounts() {
			if n != c.per {
				t.Errorf("%s: class %d has %d images, want %d", c.s.Name, k, n, c.per)
			}
		}
	}
	mean, std := ChannelStats(train)
	wantMean, wantStd := CIFAR10MeanStd()
	for k := range 3 {
		if math.Abs(float64(mean[k]-wantMean[k])) > 0.01 || math.Abs(float64(std[k]-wantStd[k])) > 0.01 {
			t.Errorf("channel %d: mean %.4f std %.4f, want %.4f, %.4f", k, mean[k], std[k], wantMean[k], wantStd[k])
		}
	}
}
