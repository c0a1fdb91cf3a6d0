package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lwca/lwca/data"
)

// fakeCIFAR10 returns a tar.gz laid out like the CIFAR-10 archive, with
// two records per batch file.
func fakeCIFAR10(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for i, name := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		b := make([]byte, 2*3073)
		for j := range b {
			b[j] = byte(i + 7*j)
		}
		b[0], b[3073] = byte(i), 9
		if err := tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/" + name, Mode: 0o644, Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// fakeSource serves body on 127.0.0.1, counts the requests, sets the
// expected checksum to that of want, and keeps the real URL out of reach.
func fakeSource(t *testing.T, body, want []byte) (url string, hits *atomic.Int32) {
	t.Helper()
	hits = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/cifar.tar.gz" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	fakeSet(t, "cifar10", srv.URL+"/not-the-default", md5Hex(want)) // a test that forgets --url gets a 404
	return srv.URL + "/cifar.tar.gz", hits
}

// fakeSet gives the named data set another source and checksums for the test, and the test
// an empty data root of its own.
func fakeSet(t *testing.T, name, url string, md5s ...string) {
	t.Helper()
	old := remoteSets[name]
	set := *old
	set.url, set.files = url, nil
	for i, f := range old.files {
		set.files = append(set.files, remoteFile{f.name, md5s[i]})
	}
	remoteSets[name] = &set
	t.Cleanup(func() { remoteSets[name] = old })
	t.Setenv(set.env, "")
	t.Setenv(data.RootEnv, t.TempDir())
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestDataGetCIFAR10(t *testing.T) {
	archive := fakeCIFAR10(t)
	url, hits := fakeSource(t, archive, archive)
	dir := filepath.Join(t.TempDir(), "new", "dir")
	var stdout, stderr bytes.Buffer
	if err := cmdData([]string{"get", "cifar10", "--dir", dir, "--url", url}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, data.CIFAR10Archive)
	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, archive) {
		t.Fatalf("%s: %d bytes (%v), want the %d served", dest, len(got), err, len(archive))
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("%s holds %v, want only %s", dir, names, data.CIFAR10Archive)
	}
	if !strings.Contains(stdout.String(), "downloaded "+dest) {
		t.Errorf("stdout %q, want it to name %s", stdout.String(), dest)
	}
	// The archive is what the loader reads.
	train, test, err := data.CIFAR10(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 10 || test.N != 2 || train.Y[2] != 1 || test.Y[1] != 9 {
		t.Errorf("loaded N=%d, %d, labels %v, %v", train.N, test.N, train.Y, test.Y)
	}

	// A second run finds the valid file and does not fetch it.
	stdout.Reset()
	if err := cmdData([]string{"get", "cifar10", "--dir=" + dir, "--url=" + url}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 || !strings.Contains(stdout.String(), "already present") {
		t.Errorf("second run: %d requests in all, stdout %q; want 1 and a note that the file is present", hits.Load(), stdout.String())
	}

	// A damaged file is replaced, the source named by the environment.
	if err := os.WriteFile(dest, archive[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LWCA_CIFAR10_URL", url)
	stdout.Reset()
	stderr.Reset()
	if err := cmdData([]string{"get", "cifar10", "--dir", dir}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, archive) || hits.Load() != 2 {
		t.Errorf("damaged file: now %d bytes after %d requests, want %d bytes after 2", len(got), hits.Load(), len(archive))
	}
	if !strings.Contains(stderr.String(), "downloading it again") {
		t.Errorf("stderr %q, want a note about the bad checksum", stderr.String())
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("%s holds %v, want only %s", dir, names, data.CIFAR10Archive)
	}
}

func TestDataGetFailures(t *testing.T) {
	archive := fakeCIFAR10(t)
	for _, c := range []struct {
		name    string
		serve   http.HandlerFunc
		want    []string
		existed bool // a valid-looking file was there before and must survive
	}{
		{"wrong checksum", func(w http.ResponseWriter, r *http.Request) { w.Write(archive[:len(archive)-1]) },
			[]string{"MD5", md5Hex(archive[:len(archive)-1]), "want " + md5Hex(archive), "deleted"}, false},
		{"not found", http.NotFound, []string{"404"}, false},
		{"cut short", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(archive)))
			w.Write(archive[:len(archive)/2])
		}, []string{"unexpected EOF"}, false},
		{"wrong checksum over a damaged file", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("junk")) },
			[]string{"MD5"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.serve)
			defer srv.Close()
			_, _ = fakeSource(t, nil, archive)
			dir := t.TempDir()
			dest := filepath.Join(dir, data.CIFAR10Archive)
			if c.existed {
				if err := os.WriteFile(dest, []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := cmdData([]string{"get", "cifar10", "--dir", dir, "--url", srv.URL + "/x"}, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			names := dirNames(t, dir)
			if c.existed {
				if b, _ := os.ReadFile(dest); len(names) != 1 || string(b) != "old" {
					t.Errorf("%s holds %v, the old file %q; want it untouched", dir, names, b)
				}
			} else if len(names) != 0 {
				t.Errorf("%s holds %v after a failed download, want nothing", dir, names)
			}
		})
	}
}

func TestDataUsage(t *testing.T) {
	_, _ = fakeSource(t, nil, nil)
	for _, args := range [][]string{
		nil,
		{"fetch", "cifar10", "--dir", "x"},
		{"get", "--dir", "x"},
		{"get", "mnist", "--dir", "x"},
		{"get", "cifar10", "cifar100", "--dir", "x"},
		{"get", "cifar10", "--dir"},
		{"get", "cifar10", "--dir", "x", "--force"},
	} {
		err := cmdData(args, &bytes.Buffer{}, &bytes.Buffer{})
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("cmdData(%q) = %v, want a usage error", args, err)
		}
	}
}

// Without --dir, data get fills the data set's folder of the data root, where the loader
// looks; with --dir elsewhere it says how to point a config at the copy.
func TestDataGetIntoRoot(t *testing.T) {
	archive := fakeCIFAR10(t)
	url, _ := fakeSource(t, archive, archive)
	root := os.Getenv(data.RootEnv)
	var stdout bytes.Buffer
	if err := cmdData([]string{"get", "cifar10", "--url", url}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "cifar10")
	if got, err := data.DefaultCIFAR10Dir(); err != nil || got != dir {
		t.Fatalf("after data get: DefaultCIFAR10Dir() = %q, %v, want %s", got, err, dir)
	}
	if !strings.Contains(stdout.String(), "downloaded "+filepath.Join(dir, data.CIFAR10Archive)) || strings.Contains(stdout.String(), "data.path") {
		t.Errorf("stdout %q, want the file in the data root named and no data.path hint", stdout.String())
	}

	other := t.TempDir()
	stdout.Reset()
	if err := cmdData([]string{"get", "cifar10", "--url", url, "--dir", other}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "--set data.path="+other) {
		t.Errorf("--dir outside the root: stdout %q, want a hint to use --set data.path=%s", stdout.String(), other)
	}
}

// idxGz returns a gzip-compressed IDX file of unsigned bytes with the given dimensions.
func idxGz(t *testing.T, dims []int, fill byte) []byte {
	t.Helper()
	var raw bytes.Buffer
	raw.Write([]byte{0, 0, 8, byte(len(dims))})
	n := 1
	for _, d := range dims {
		raw.Write([]byte{byte(d >> 24), byte(d >> 16), byte(d >> 8), byte(d)})
		n *= d
	}
	raw.Write(bytes.Repeat([]byte{fill}, n))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// data get fashion-mnist fetches the four files from the source folder, each checked, into
// the data root, where the Fashion-MNIST loader finds them.
func TestDataGetFashionMNIST(t *testing.T) {
	files := map[string][]byte{
		"train-images-idx3-ubyte.gz": idxGz(t, []int{3, 28, 28}, 200),
		"train-labels-idx1-ubyte.gz": idxGz(t, []int{3}, 9),
		"t10k-images-idx3-ubyte.gz":  idxGz(t, []int{2, 28, 28}, 100),
		"t10k-labels-idx1-ubyte.gz":  idxGz(t, []int{2}, 4),
	}
	srv := httptest.NewServer(http.StripPrefix("/mirror/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})))
	defer srv.Close()
	var sums []string
	for _, f := range remoteSets["fashion-mnist"].files {
		sums = append(sums, md5Hex(files[f.name]))
	}
	fakeSet(t, "fashion-mnist", srv.URL+"/not-the-default/", sums...)
	t.Setenv("LWCA_FASHION_MNIST_URL", srv.URL+"/mirror")

	var stdout bytes.Buffer
	if err := cmdData([]string{"get", "fashion-mnist"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(os.Getenv(data.RootEnv), "fashion-mnist")
	if names := dirNames(t, dir); len(names) != 4 {
		t.Errorf("%s holds %v, want the four files", dir, names)
	}
	got, err := data.DefaultFashionMNISTDir()
	if err != nil || got != dir {
		t.Fatalf("DefaultFashionMNISTDir() = %q, %v, want %s", got, err, dir)
	}
	train, test, err := data.FashionMNIST(got)
	if err != nil || train.N != 3 || test.N != 2 || train.Y[0] != 9 || test.Y[1] != 4 {
		t.Errorf("loaded %v, %v (%v), want 3 and 2 samples with labels 9 and 4", train, test, err)
	}

	// A file that does not match its checksum fails the command and is not kept.
	files["t10k-labels-idx1-ubyte.gz"] = idxGz(t, []int{2}, 5)
	os.Remove(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	err = cmdData([]string{"get", "fashion-mnist"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "t10k-labels-idx1-ubyte.gz") || !strings.Contains(err.Error(), "MD5") {
		t.Errorf("damaged file: error %v, want one naming the file and its MD5", err)
	}
	if names := dirNames(t, dir); len(names) != 3 {
		t.Errorf("%s holds %v after a failed download, want the three good files", dir, names)
	}
}

// lwca run on a shipped CIFAR-10 config with no data fails at once, naming the folder and
// the command that fetches the data.
func TestRunWithoutCIFAR10(t *testing.T) {
	root := t.TempDir()
	t.Setenv(data.RootEnv, root)
	out := filepath.Join(t.TempDir(), "run")
	var stdout, stderr bytes.Buffer
	code := run([]string{"run", "../configs/cifar10_resnet20_original.yaml", "--out", out}, &stdout, &stderr)
	msg := stderr.String()
	for _, w := range []string{filepath.Join(root, "cifar10"), data.RootEnv, "fetch it with: lwca data get cifar10"} {
		if !strings.Contains(msg, w) {
			t.Errorf("stderr %q does not mention %q", msg, w)
		}
	}
	if code == 0 {
		t.Error("exit status 0")
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was created (%v)", out, err)
	}
}
