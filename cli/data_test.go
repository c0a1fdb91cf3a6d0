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
	oldURL, oldMD5 := cifar10URL, cifar10MD5
	cifar10URL = srv.URL + "/not-the-default" // a test that forgets --url gets a 404
	cifar10MD5 = md5Hex(want)
	t.Cleanup(func() { cifar10URL, cifar10MD5 = oldURL, oldMD5 })
	t.Setenv(cifar10URLEnv, "")
	return srv.URL + "/cifar.tar.gz", hits
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
	t.Setenv(cifar10URLEnv, url)
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
		{"get", "cifar10"},
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
