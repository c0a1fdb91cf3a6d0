package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// idxBytes encodes dims and payload by hand, independently of WriteIDX.
func idxBytes(typ byte, dims []int, payload []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, payload...)
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func TestReadIDXRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	for _, dims := range [][]int{{7}, {5, 3, 4}, {2, 1, 3, 2}, {0, 28, 28}, {3, 0}} {
		n := 1
		for _, d := range dims {
			n *= d
		}
		payload := randomBytes(r, n)
		raw := idxBytes(idxUint8, dims, payload)

		var w bytes.Buffer
		if err := WriteIDX(&w, &IDX{Dims: dims, Data: payload}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.Bytes(), raw) {
			t.Errorf("WriteIDX(%v) differs from the hand encoding", dims)
		}

		for _, c := range []struct {
			name string
			b    []byte
		}{
			{"plain", raw},
			{"gz", gzipBytes(t, raw)},
		} {
			check := func(how string, got *IDX, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%v %s %s: %v", dims, c.name, how, err)
				}
				if !slices.Equal(got.Dims, dims) || !bytes.Equal(got.Data, payload) {
					t.Errorf("%v %s %s: got dims %v and %d bytes, want the input back", dims, c.name, how, got.Dims, len(got.Data))
				}
			}
			got, err := ReadIDX(bytes.NewReader(c.b))
			check("ReadIDX", got, err)
			// The file name deliberately hides the compression.
			p := writeFile(t, dir, "x-"+c.name+dimString(dims)+".idx", c.b)
			got, err = ReadIDXFile(p)
			check("ReadIDXFile", got, err)
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err = ReadIDX(f)
			f.Close()
			check("ReadIDX(*os.File)", got, err)
		}
	}
}

func TestReadIDXConcatenatedGzip(t *testing.T) {
	// gzip allows several members; the stream is their concatenation.
	raw := idxBytes(idxUint8, []int{6}, []byte{1, 2, 3, 4, 5, 6})
	b := append(gzipBytes(t, raw[:5]), gzipBytes(t, raw[5:])...)
	got, err := ReadIDX(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Data, raw[8:]) {
		t.Errorf("got %v, want %v", got.Data, raw[8:])
	}
}

func TestReadIDXErrors(t *testing.T) {
	good := idxBytes(idxUint8, []int{4, 3}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	gz := gzipBytes(t, good)
	flipped := slices.Clone(gz)
	flipped[len(flipped)/2] ^= 0xff
	badCRC := slices.Clone(gz)
	badCRC[len(badCRC)-6] ^= 0x01 // inside the CRC-32 of the trailer

	cases := []struct {
		name string
		b    []byte
		want string // a fragment the message must hold
	}{
		{"empty", nil, "truncated header"},
		{"short magic", []byte{0, 0, 8}, "truncated header"},
		{"truncated dims", good[:9], "truncated header"},
		{"truncated data", good[:len(good)-1], "4x3 need 12"},
		{"trailing data", append(slices.Clone(good), 0), "need 12 data bytes"},
		{"wrong magic", append([]byte{1, 2}, good[2:]...), "bad magic number 0x01020802"},
		{"float type", idxBytes(idxFloat32, []int{1}, []byte{0, 0, 0, 0}), "type 0x0D (float32): want 0x08"},
		{"int32 type", idxBytes(idxInt32, []int{1}, []byte{0, 0, 0, 0}), "type 0x0C (int32)"},
		{"zero dims", []byte{0, 0, 8, 0}, "0 dimensions"},
		{"absurd size", idxBytes(idxUint8, []int{1 << 20, 1 << 20, 1 << 20}, nil), "more than the limit"},
		{"gzip garbage", []byte{0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, "gzip"},
		{"gzip truncated", gz[:len(gz)-10], "truncated"},
		{"gzip corrupt body", flipped, "gzip"},
		{"gzip bad checksum", badCRC, "checksum"},
		{"gzip truncated data", gzipBytes(t, good[:len(good)-3]), "need 12 bytes, stream ends after 9"},
		{"gzip trailing data", gzipBytes(t, append(slices.Clone(good), 1, 2)), "2 more after them"},
		{"gzip absurd size", gzipBytes(t, idxBytes(idxUint8, []int{1 << 15, 1 << 15}, []byte{1, 2, 3})), "stream ends after 3"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		p := writeFile(t, dir, strings.ReplaceAll(c.name, " ", "_")+".bin", c.b)
		got, err := ReadIDXFile(p)
		if err == nil {
			t.Errorf("%s: no error, got dims %v", c.name, got.Dims)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, p) || !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q, want it to name %s and hold %q", c.name, msg, p, c.want)
		}
		// A reader that is not a file gives the same diagnosis.
		_, err = ReadIDX(bytes.NewReader(c.b))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "<stream>") {
			t.Errorf("%s: ReadIDX error %v, want one holding %q", c.name, err, c.want)
		}
	}

	var fe *FormatError
	if _, err := ReadIDX(bytes.NewReader(good[:3])); !errors.As(err, &fe) {
		t.Errorf("truncated header: error %T, want *FormatError", err)
	}
	if _, err := ReadIDXFile(filepath.Join(dir, "missing")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v, want one wrapping os.ErrNotExist", err)
	}
}

// TestReadIDXAllocationGuard checks that a compressed stream whose
// header announces far more data than it holds costs memory in proportion
// to what it holds, not to the header.
func TestReadIDXAllocationGuard(t *testing.T) {
	b := gzipBytes(t, idxBytes(idxUint8, []int{1 << 30}, make([]byte, 1000)))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadIDX(bytes.NewReader(b))
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("no error for a stream shorter than its header says")
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("allocated %d bytes for a 1000-byte payload", got)
	}
}

func TestWriteIDXErrors(t *testing.T) {
	for _, x := range []*IDX{
		{Dims: nil},
		{Dims: []int{2, 2}, Data: []byte{1, 2, 3}},
		{Dims: []int{-1}, Data: nil},
	} {
		if err := WriteIDX(&bytes.Buffer{}, x); err == nil {
			t.Errorf("WriteIDX(%v, %d bytes): no error", x.Dims, len(x.Data))
		}
	}
}
