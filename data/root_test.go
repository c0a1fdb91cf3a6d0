package data

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoot(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv(RootEnv, "")
	if got, err := Root(); err != nil || got != filepath.Join(cache, "lwca", "data") {
		t.Errorf("default: Root() = %q, %v, want %s", got, err, filepath.Join(cache, "lwca", "data"))
	}

	t.Chdir(t.TempDir())
	wd, _ := os.Getwd()
	t.Setenv(RootEnv, "rel/data")
	if got, err := Root(); err != nil || got != filepath.Join(wd, "rel", "data") {
		t.Errorf("relative %s: Root() = %q, %v, want it made absolute", RootEnv, got, err)
	}
	if got, err := RootFolder(CIFAR10Folder); err != nil || got != filepath.Join(wd, "rel", "data", "cifar10") {
		t.Errorf("RootFolder(cifar10) = %q, %v", got, err)
	}

	t.Setenv(RootEnv, "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if _, err := Root(); err == nil || !strings.Contains(err.Error(), RootEnv) {
		t.Errorf("no HOME: error %v, want one naming %s", err, RootEnv)
	}
}

func TestInRoot(t *testing.T) {
	for _, c := range []struct {
		p, rest string
		ok      bool
	}{
		{"$LWCA_DATA", "", true},
		{"$LWCA_DATA/", "", true},
		{"$LWCA_DATA/tiny-imagenet", "tiny-imagenet", true},
		{"$LWCA_DATA/a/b.tar.gz", "a/b.tar.gz", true},
		{"$LWCA_DATAX/a", "", false},
		{"LWCA_DATA/a", "", false},
		{"data/a", "", false},
		{"/abs/a", "", false},
		{"", "", false},
	} {
		if rest, ok := InRoot(c.p); rest != c.rest || ok != c.ok {
			t.Errorf("InRoot(%q) = %q, %v, want %q, %v", c.p, rest, ok, c.rest, c.ok)
		}
	}
}

func TestLocate(t *testing.T) {
	root := t.TempDir()
	t.Setenv(RootEnv, root)
	if err := os.Mkdir(filepath.Join(root, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := Locate("$LWCA_DATA/images"); err != nil || got != filepath.Join(root, "images") {
		t.Errorf("Locate($LWCA_DATA/images) = %q, %v", got, err)
	}
	if got, err := Locate("elsewhere/images"); err != nil || got != "elsewhere/images" {
		t.Errorf("a path outside the root: Locate = %q, %v, want it unchanged", got, err)
	}
	_, err := Locate("$LWCA_DATA/missing.tar.gz")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: error %v, want one matching fs.ErrNotExist", err)
	}
	for _, w := range []string{filepath.Join(root, "missing.tar.gz"), "$LWCA_DATA/missing.tar.gz", "from " + RootEnv} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing: error %v does not mention %q", err, w)
		}
	}
}

// cifarJPEGFixture is a two-image-per-split image folder with the CIFAR-10
// class names (or others), laid out as the JPEG copy.
func cifarJPEGFixture(t *testing.T, classes []string) []tarEntry {
	r := rand.New(rand.NewPCG(5, 5))
	var es []tarEntry
	for _, split := range []string{"train", "test"} {
		for _, c := range classes {
			es = append(es, tarEntry{split + "/" + c + "/0001.jpg", jpegBytes(t, randomColour(r, 32, 32, true).img, 75)})
		}
	}
	return es
}

func TestDefaultCIFAR10Dir(t *testing.T) {
	root := t.TempDir()
	t.Setenv(RootEnv, root)
	dir := filepath.Join(root, "cifar10")

	_, err := DefaultCIFAR10Dir()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty root: error %v, want one matching fs.ErrNotExist", err)
	}
	for _, w := range []string{dir, RootEnv, "fetch it with: lwca data get cifar10"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("empty root: error %v does not mention %q", err, w)
		}
	}

	// The JPEG copy alone, as CI provides it.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, CIFAR10JPEGArchive, tarBytes(t, cifarJPEGFixture(t, CIFAR10Classes()), true))
	got, err := DefaultCIFAR10Dir()
	if err != nil || got != dir {
		t.Fatalf("JPEG copy: DefaultCIFAR10Dir() = %q, %v, want %s", got, err, dir)
	}
	train, test, err := CIFAR10(got)
	if err != nil {
		t.Fatal(err)
	}
	if train.Name != "cifar10-jpeg/train" || train.N != 10 || test.N != 10 || train.D != 3072 {
		t.Errorf("JPEG copy: %s with N=%d, %d, D=%d; want cifar10-jpeg/train with 10, 10, 3072", train.Name, train.N, test.N, train.D)
	}

	// The binary archive beside it is preferred: it is the original.
	files := cifarFixture([6]int{1, 1, 1, 1, 1, 2})
	writeFile(t, dir, CIFAR10Archive, cifarArchive(t, files, true))
	train, test, err = CIFAR10(dir)
	if err != nil || train.Name != "cifar10/train" || train.N != 5 || test.N != 2 {
		t.Errorf("binary beside the copy: loaded %v, %v (%v), want the binary set", train, test, err)
	}
}

func TestCIFAR10JPEGForms(t *testing.T) {
	// An unpacked copy in a cifar10-jpeg folder.
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "cifar10-jpeg"), cifarJPEGFixture(t, CIFAR10Classes()))
	if train, _, err := CIFAR10(dir); err != nil || train.Name != "cifar10-jpeg/train" {
		t.Errorf("unpacked copy: %v", err)
	}

	// Another image folder under the copy's name is refused.
	other := t.TempDir()
	classes := append(CIFAR10Classes()[:9], "zebra")
	writeFile(t, other, CIFAR10JPEGArchive, tarBytes(t, cifarJPEGFixture(t, classes), true))
	_, _, err := CIFAR10(other)
	if err == nil || !strings.Contains(err.Error(), "not the CIFAR-10 JPEG copy") || !strings.Contains(err.Error(), "zebra") {
		t.Errorf("other classes: error %v, want one refusing the folder", err)
	}
}

func TestDefaultFashionMNISTDirInRoot(t *testing.T) {
	root := t.TempDir()
	t.Setenv(RootEnv, root)
	dir := filepath.Join(root, "fashion-mnist")
	if !isDir(FashionMNISTDir) {
		_, err := DefaultFashionMNISTDir()
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("nothing anywhere: error %v, want one matching fs.ErrNotExist", err)
		}
		for _, w := range []string{dir, FashionMNISTDir, "lwca data get fashion-mnist", "apt-get install dataset-fashion-mnist"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("nothing anywhere: error %v does not mention %q", err, w)
			}
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeMNISTLike(t, dir, 3, 2, [4]bool{true, true, true, true})
	if got, err := DefaultFashionMNISTDir(); err != nil || got != dir {
		t.Errorf("DefaultFashionMNISTDir() = %q, %v, want %s", got, err, dir)
	}
}
