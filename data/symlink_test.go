package data

import (
	"archive/tar"
	"bytes"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tarWithLinks packs entries, then symbolic link entries (name → target).
func tarWithLinks(t *testing.T, entries []tarEntry, links [][2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}
		if e.data == nil {
			h = &tar.Header{Name: e.name, Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range links {
		if err := tw.WriteHeader(&tar.Header{Name: l[0], Mode: 0o777, Typeflag: tar.TypeSymlink, Linkname: l[1]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, name); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
}

func grey(t *testing.T) []byte {
	return pngBytes(t, randomGrey(rand.New(rand.NewPCG(1, 2)), 3, 2).img)
}

// TestImageFolderSymlinks: links inside the folder are followed, files and
// class folders alike; links out of it, and loops, are refused by name.
func TestImageFolderSymlinks(t *testing.T) {
	base := []tarEntry{{"train/cat/a.png", grey(t)}, {"test/cat/a.png", grey(t)}, {"store/dog/a.png", grey(t)}, {"store/dog/b.png", grey(t)}}

	dir := t.TempDir()
	writeTree(t, dir, base)
	symlink(t, filepath.Join("..", "store", "dog"), filepath.Join(dir, "train", "dog")) // a class folder
	symlink(t, filepath.Join("..", "..", "store", "dog", "b.png"), filepath.Join(dir, "test", "dog", "b.png"))
	train, test, err := ImageFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 3 || test.N != 2 || strings.Join(train.ClassNames, ",") != "cat,dog" {
		t.Errorf("train %d, test %d samples, classes %v; want 3, 2 and cat,dog", train.N, test.N, train.ClassNames)
	}

	outside := filepath.Join(t.TempDir(), "secret.png")
	if err := os.WriteFile(outside, grey(t), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, link, target, want string }{
		{"file out of the tree", "train/cat/b.png", outside, "outside the image folder"},
		{"folder out of the tree", "train/bird", filepath.Dir(outside), "outside the image folder"},
		{"loop", "train/cat/up", "..", "a loop"},
		{"broken", "train/cat/c.png", "nowhere.png", "broken symbolic link"},
	} {
		dir := t.TempDir()
		writeTree(t, dir, base)
		link := filepath.Join(dir, filepath.FromSlash(c.link))
		symlink(t, c.target, link)
		_, _, err := ImageFolder(dir)
		if err == nil || !strings.Contains(err.Error(), link) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %s: %s", c.name, err, link, c.want)
		}
	}
}

// TestArchiveLinksNotFollowed: an archive's link entries are never followed, and where one
// stands for data the error says so.
func TestArchiveLinksNotFollowed(t *testing.T) {
	p := writeFile(t, t.TempDir(), "x.tar", tarWithLinks(t,
		[]tarEntry{{"train/cat/a.png", grey(t)}, {"test/cat/a.png", grey(t)}},
		[][2]string{{"train/cat/b.png", "/etc/passwd"}}))
	_, _, err := ImageFolder(p)
	if err == nil || !strings.Contains(err.Error(), "train/cat/b.png is a link entry (to /etc/passwd); links in archives are not followed") {
		t.Errorf("image archive: got %v", err)
	}

	files := cifarFixture([6]int{2, 2, 2, 2, 2, 2})
	var entries []tarEntry
	for _, name := range cifar10Files[1:] {
		entries = append(entries, tarEntry{"cifar-10-batches-bin/" + name, files[name]})
	}
	p = writeFile(t, t.TempDir(), "c.tar", tarWithLinks(t, entries, [][2]string{{"cifar-10-batches-bin/data_batch_1.bin", "../elsewhere/data_batch_1.bin"}}))
	_, _, err = CIFAR10(p)
	if err == nil || !strings.Contains(err.Error(), "cifar-10-batches-bin/data_batch_1.bin is a link entry") || !strings.Contains(err.Error(), "not followed") {
		t.Errorf("CIFAR-10 archive: got %v", err)
	}
}

// TestEmptyClassFolder: a class folder without images is an error naming it, in a directory
// and in an archive that records the folder.
func TestEmptyClassFolder(t *testing.T) {
	es := []tarEntry{{"set/train/cat/a.png", grey(t)}, {"set/test/cat/a.png", grey(t)}, {"set/train/dog/", nil}, {"set/train/dog/notes.txt", []byte("x")}}
	dir := t.TempDir()
	writeTree(t, dir, es[:2])
	writeTree(t, dir, es[3:])
	arch := writeFile(t, t.TempDir(), "x.tar.gz", tarBytes(t, es, true))
	for _, p := range []string{dir, arch} {
		_, _, err := ImageFolder(p)
		if err == nil || !strings.Contains(err.Error(), "class folder set/train/dog holds no images") {
			t.Errorf("%s: got %v, want the empty class folder named", p, err)
		}
	}
}

func TestTruncatedJPEG(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	j := jpegBytes(t, img, 90)
	dir := t.TempDir()
	writeTree(t, dir, []tarEntry{{"train/cat/a.jpg", j}, {"test/cat/t.jpg", j[:len(j)-40]}})
	_, _, err := ImageFolder(dir)
	if err == nil || !strings.Contains(err.Error(), "t.jpg: truncated JPEG") {
		t.Errorf("got %v, want a truncated JPEG named", err)
	}
}
