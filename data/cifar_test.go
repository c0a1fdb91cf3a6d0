package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// cifarBatch returns n random records in the CIFAR-10 binary format.
func cifarBatch(r *rand.Rand, n int) []byte {
	b := randomBytes(r, n*3073)
	for i := range n {
		b[i*3073] = byte(r.IntN(10))
	}
	return b
}

// cifarFixture returns the six batch files with the given record counts
// (five training batches, then the test batch).
func cifarFixture(counts [6]int) map[string][]byte {
	r := rand.New(rand.NewPCG(3, 1))
	files := map[string][]byte{}
	for i, n := range counts {
		files[cifar10Files[i]] = cifarBatch(r, n)
	}
	return files
}

type tarEntry struct {
	name string
	data []byte // nil for a directory
}

// tarBytes packs entries into a tar archive, gzip-compressed if gz.
func tarBytes(t testing.TB, entries []tarEntry, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var zw *gzip.Writer
	var tw *tar.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	} else {
		tw = tar.NewWriter(&buf)
	}
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
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if gz {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// cifarArchive packs files like the official archive: a folder entry,
// the batches in it, and a few other files.
func cifarArchive(t testing.TB, files map[string][]byte, gz bool) []byte {
	t.Helper()
	entries := []tarEntry{{name: "cifar-10-batches-bin/"}}
	entries = append(entries, tarEntry{"cifar-10-batches-bin/batches.meta.txt", []byte("airplane\nautomobile\n")})
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		entries = append(entries, tarEntry{"cifar-10-batches-bin/" + name, files[name]})
	}
	entries = append(entries, tarEntry{"cifar-10-batches-bin/readme.html", []byte("<html></html>")})
	return tarBytes(t, entries, gz)
}

// checkCIFAR compares a loaded set with the raw records, indexing the
// planes directly: pixel (h, w) of channel c is byte 1 + c·1024 + 32h + w.
func checkCIFAR(t *testing.T, s *Set, raw []byte, name string) {
	t.Helper()
	n := len(raw) / 3073
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if s.N != n || s.D != 3072 || s.Classes != 10 || !slices.Equal(s.Shape, []int{32, 32, 3}) || s.Name != name {
		t.Fatalf("%s: N=%d D=%d Classes=%d Shape=%v, want N=%d, 3072, 10, [32 32 3]", s.Name, s.N, s.D, s.Classes, s.Shape, n)
	}
	if !slices.Equal(s.ClassNames, []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}) {
		t.Errorf("%s: ClassNames %v", s.Name, s.ClassNames)
	}
	for i := range n {
		rec := raw[i*3073 : (i+1)*3073]
		if s.Y[i] != int32(rec[0]) {
			t.Fatalf("%s: sample %d: label %d, want %d", s.Name, i, s.Y[i], rec[0])
		}
		for h := range 32 {
			for w := range 32 {
				for c := range 3 {
					got := s.X[i*3072+h*96+w*3+c]
					if want := float32(rec[1+c*1024+h*32+w]) / 255; got != want {
						t.Fatalf("%s: sample %d pixel (%d,%d) channel %d: %v, want %v", s.Name, i, h, w, c, got, want)
					}
				}
			}
		}
	}
}

func TestCIFAR10Layouts(t *testing.T) {
	counts := [6]int{3, 1, 2, 1, 4, 5}
	files := cifarFixture(counts)
	var trainRaw []byte
	for _, name := range cifar10Files[:5] {
		trainRaw = append(trainRaw, files[name]...)
	}
	testRaw := files["test_batch.bin"]

	flat := t.TempDir()
	nested := t.TempDir()
	os.Mkdir(filepath.Join(nested, "cifar-10-batches-bin"), 0o755)
	for name, b := range files {
		writeFile(t, flat, name, b)
		writeFile(t, filepath.Join(nested, "cifar-10-batches-bin"), name, b)
	}
	arch := t.TempDir()
	gzPath := writeFile(t, arch, "cifar-10-binary.tar.gz", cifarArchive(t, files, true))
	tarPath := writeFile(t, t.TempDir(), "cifar.tar", cifarArchive(t, files, false))

	for _, p := range []string{flat, nested, gzPath, arch, tarPath} {
		train, test, err := CIFAR10(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		checkCIFAR(t, train, trainRaw, "cifar10/train")
		checkCIFAR(t, test, testRaw, "cifar10/test")
	}
}

func TestCIFAR10Errors(t *testing.T) {
	good := cifarFixture([6]int{2, 2, 2, 2, 2, 2})
	// with returns the fixture with one file replaced, or removed if b is nil.
	with := func(name string, b []byte) map[string][]byte {
		m := map[string][]byte{}
		for k, v := range good {
			m[k] = v
		}
		if b == nil {
			delete(m, name)
		} else {
			m[name] = b
		}
		return m
	}
	badLabel := slices.Clone(good["data_batch_3.bin"])
	badLabel[3073] = 10 // record 1

	gz := cifarArchive(t, good, true)
	corrupt := slices.Clone(gz)
	for i := len(corrupt) / 3; i < len(corrupt)/3+64; i++ {
		corrupt[i] ^= 0x5a
	}

	cases := []struct {
		name  string
		files map[string][]byte // written to a directory, unless arch is set
		arch  []byte
		want  []string // fragments the error must hold
	}{
		{"missing test batch", with("test_batch.bin", nil), nil, []string{"no test_batch.bin"}},
		{"missing batch in archive", nil, cifarArchive(t, with("data_batch_4.bin", nil), true), []string{"no data_batch_4.bin"}},
		{"record size", with("data_batch_2.bin", append(slices.Clone(good["data_batch_2.bin"]), 1, 2)), nil,
			[]string{"data_batch_2.bin", "6148 bytes", "3073-byte records", "2 bytes left over"}},
		{"truncated record in archive", nil, cifarArchive(t, with("test_batch.bin", good["test_batch.bin"][:5000]), true),
			[]string{"cifar-10-batches-bin/test_batch.bin", "5000 bytes", "3073-byte"}},
		{"empty file", with("data_batch_1.bin", []byte{}), nil, []string{"data_batch_1.bin", "empty"}},
		{"label", with("data_batch_3.bin", badLabel), nil, []string{"data_batch_3.bin", "record 1", "offset 3073", "label 10, want 0 to 9"}},
		{"label in archive", nil, cifarArchive(t, with("data_batch_3.bin", badLabel), true), []string{"data_batch_3.bin", "label 10"}},
		{"corrupt gzip", nil, corrupt, []string{"cifar-10-binary.tar.gz", "gzip"}},
		{"truncated gzip", nil, gz[:len(gz)/2], []string{"cifar-10-binary.tar.gz", "truncated tar.gz"}},
		{"not gzip", nil, []byte("PK\x03\x04 this is a zip file"), []string{"not a gzip stream", "want 1f 8b"}},
		{"gzip header", nil, []byte{0x1f, 0x8b, 0, 0, 0}, []string{"gzip"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := dir
			if c.arch != nil {
				path = writeFile(t, dir, "cifar-10-binary.tar.gz", c.arch)
			}
			for name, b := range c.files {
				writeFile(t, dir, name, b)
			}
			_, _, err := CIFAR10(path)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}

	t.Run("duplicate", func(t *testing.T) {
		entries := []tarEntry{{"a/test_batch.bin", good["test_batch.bin"]}, {"b/test_batch.bin", good["test_batch.bin"]}}
		p := writeFile(t, t.TempDir(), "x.tar", tarBytes(t, entries, false))
		if _, _, err := CIFAR10(p); err == nil || !strings.Contains(err.Error(), "twice, as a/test_batch.bin and b/test_batch.bin") {
			t.Errorf("error %v, want one about the duplicate", err)
		}
	})
	t.Run("empty directory", func(t *testing.T) {
		dir := t.TempDir()
		if _, _, err := CIFAR10(dir); err == nil || !strings.Contains(err.Error(), "lwca data get cifar10") {
			t.Errorf("error %v, want one saying how to fetch the data", err)
		}
	})
	t.Run("no such path", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nothing")
		if _, _, err := CIFAR10(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("error %v, want one naming %s", err, p)
		}
	})
}
