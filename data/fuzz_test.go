package data

import (
	"bytes"
	"testing"
)

// FuzzReadIDX checks that ReadIDX never panics and that whatever it
// accepts is consistent and, when uncompressed, re-encodes to the input.
func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes(idxUint8, []int{3}, []byte{0, 1, 2}))
	f.Add(idxBytes(idxUint8, []int{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add(gzipBytes(f, idxBytes(idxUint8, []int{1, 2}, []byte{9, 8})))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := ReadIDX(bytes.NewReader(b))
		if err != nil {
			if x != nil {
				t.Fatal("non-nil result with an error")
			}
			return
		}
		n := 1
		for _, d := range x.Dims {
			n *= d
		}
		if n != len(x.Data) || len(x.Dims) == 0 {
			t.Fatalf("dims %v with %d bytes", x.Dims, len(x.Data))
		}
		var w bytes.Buffer
		if err := WriteIDX(&w, x); err != nil {
			t.Fatal(err)
		}
		if len(b) >= 2 && (b[0] != 0x1f || b[1] != 0x8b) && !bytes.Equal(w.Bytes(), b) {
			t.Fatal("accepted input does not re-encode to itself")
		}
		y, err := ReadIDX(&w)
		if err != nil || !bytes.Equal(y.Data, x.Data) {
			t.Fatalf("re-encoded array does not read back: %v", err)
		}
	})
}
