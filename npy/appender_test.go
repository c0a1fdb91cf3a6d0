package npy

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// row returns the test row number r of an appender with cols columns.
func row(r, cols int) []float64 {
	x := make([]float64, cols)
	for j := range x {
		x[j] = float64(r) + float64(j)/10
	}
	return x
}

// checkRows reads path and checks that it holds rows 0…rows-1.
func checkRows(t *testing.T, path string, rows, cols int) {
	t.Helper()
	a, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Shape, []int{rows, cols}) || a.Dtype != "<f8" {
		t.Fatalf("shape %v dtype %s, want [%d %d] <f8", a.Shape, a.Dtype, rows, cols)
	}
	for r := range rows {
		if !slices.Equal(a.F64[r*cols:(r+1)*cols], row(r, cols)) {
			t.Fatalf("row %d = %v, want %v", r, a.F64[r*cols:(r+1)*cols], row(r, cols))
		}
	}
}

func appendRows(t *testing.T, a *Appender, from, to int) {
	t.Helper()
	for r := from; r < to; r++ {
		if err := a.AppendRow(row(r, a.Cols())); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppenderReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rows.npy")
	const cols = 5
	a, err := OpenAppender(path, "<f8", cols)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, path, 0, cols) // a new file is a valid (0, cols) array
	appendRows(t, a, 0, 3)
	checkRows(t, path, 3, cols) // valid while open
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a, err = OpenAppender(path, "<f8", cols)
	if err != nil {
		t.Fatal(err)
	}
	if a.Rows() != 3 {
		t.Fatalf("reopened with %d rows, want 3", a.Rows())
	}
	appendRows(t, a, 3, 12)
	if err := a.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	checkRows(t, path, 12, cols)
	if st, err := os.Stat(path); err != nil || st.Size() != appendHeaderLen+12*cols*8 {
		t.Errorf("file size %d, want %d", st.Size(), appendHeaderLen+12*cols*8)
	}
}

func TestAppenderCrash(t *testing.T) {
	const cols = 4
	const rowBytes = cols * 8
	for _, tc := range []struct {
		name string
		// damage changes a file of 5 complete rows.
		damage func(t *testing.T, path string)
		rows   int // complete rows after reopening
	}{
		{"truncated mid-row", func(t *testing.T, path string) {
			if err := os.Truncate(path, appendHeaderLen+4*rowBytes+rowBytes/2); err != nil {
				t.Fatal(err)
			}
		}, 4},
		{"truncated inside the last counted row and before it", func(t *testing.T, path string) {
			if err := os.Truncate(path, appendHeaderLen+2*rowBytes+3); err != nil {
				t.Fatal(err)
			}
		}, 2},
		{"partial row after the counted rows", func(t *testing.T, path string) {
			appendBytes(t, path, bytes.Repeat([]byte{0xff}, rowBytes-1))
		}, 5},
		{"complete row whose header update was lost", func(t *testing.T, path string) {
			appendBytes(t, path, make([]byte, rowBytes))
		}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rows.npy")
			a, err := OpenAppender(path, "<f8", cols)
			if err != nil {
				t.Fatal(err)
			}
			appendRows(t, a, 0, 5)
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path)
			a, err = OpenAppender(path, "<f8", cols)
			if err != nil {
				t.Fatal(err)
			}
			if a.Rows() != tc.rows {
				t.Fatalf("recovered %d rows, want %d", a.Rows(), tc.rows)
			}
			checkRows(t, path, tc.rows, cols)
			appendRows(t, a, tc.rows, tc.rows+2)
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			checkRows(t, path, tc.rows+2, cols)
			if st, _ := os.Stat(path); st.Size() != appendHeaderLen+int64(tc.rows+2)*rowBytes {
				t.Errorf("file size %d, want %d", st.Size(), appendHeaderLen+int64(tc.rows+2)*rowBytes)
			}
		})
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestAppenderHeaderGrowth checks that the header keeps its length while
// the row count gains digits, up to the largest int, by setting counts
// directly.
func TestAppenderHeaderGrowth(t *testing.T) {
	for _, cols := range []int{1, 1 << 40} {
		path := filepath.Join(t.TempDir(), "rows.npy")
		a, err := OpenAppender(path, "|u1", cols)
		if err != nil {
			t.Fatal(err)
		}
		for _, rows := range []int{0, 9, 10, 123456789, math.MaxInt64} {
			a.h.shape[0] = rows
			if err := a.writeHeader(); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, appendHeaderLen)
			if _, err := a.f.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			if binary.LittleEndian.Uint16(b[8:]) != appendHeaderLen-10 || b[len(b)-1] != '\n' {
				t.Errorf("cols %d rows %d: header %q", cols, rows, b)
			}
			// The literal parser, unlike parseHeader, does not check
			// that the shape's size fits in memory.
			p := &parser{s: b[10:]}
			v, err := p.parse()
			if err != nil {
				t.Fatalf("cols %d rows %d: %v", cols, rows, err)
			}
			want := tuple{int64(rows), int64(cols)}
			if d := v.(dict); len(d) != 3 || !slices.Equal(d[2].val.(tuple), want) {
				t.Errorf("cols %d rows %d: header %q", cols, rows, b)
			}
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppenderTypes(t *testing.T) {
	dir := t.TempDir()
	for _, d := range descrs {
		path := filepath.Join(dir, strings.Trim(d, "<|")+".npy")
		a, err := OpenAppender(path, d, 3)
		if err != nil {
			t.Fatal(err)
		}
		all := sample(d, 6)
		v := func(i int) any {
			switch x := all.(type) {
			case []float32:
				return x[3*i : 3*i+3]
			case []float64:
				return x[3*i : 3*i+3]
			case []int32:
				return x[3*i : 3*i+3]
			case []int64:
				return x[3*i : 3*i+3]
			case []uint8:
				return x[3*i : 3*i+3]
			}
			return nil
		}
		for i := range 2 {
			if err := a.AppendRow(v(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Shape, []int{2, 3}) || !sameBits(got.Data(), all) {
			t.Errorf("%s: read %v %v, want %v", d, got.Shape, got.Data(), all)
		}
	}
}

func TestAppenderErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rows.npy")
	a, err := OpenAppender(path, "<f4", 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		row any
		msg string
	}{
		{[]float32{1, 2}, "row is 2 elements of <f4, want 3 of <f4"},
		{[]float64{1, 2, 3}, "row is 3 elements of <f8"},
		{[]int{1, 2, 3}, "[]int is not supported"},
	} {
		if err := a.AppendRow(tc.row); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("row %v: error %v, want %q", tc.row, err, tc.msg)
		}
	}
	if a.Rows() != 0 {
		t.Errorf("%d rows after failed appends", a.Rows())
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.AppendRow([]float32{1, 2, 3}); err == nil {
		t.Error("append after Close")
	}

	matrix := filepath.Join(dir, "matrix.npy")
	if err := WriteFile(matrix, []int{2, 2, 2}, make([]float32, 8)); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "text.npy")
	if err := os.WriteFile(text, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, dtype string
		cols        int
		msg         string
	}{
		{path, "<f8", 3, "dtype <f4, want <f8"},
		{path, "<f4", 4, "3 columns, want 4"},
		{path, "<f2", 3, `unsupported dtype "<f2"`},
		{path, "<f4", 0, "0 columns"},
		{matrix, "<f4", 2, "want 2 dimensions"},
		{text, "<f4", 2, "bad magic"},
		{filepath.Join(dir, "no", "such.npy"), "<f4", 2, "no such file"},
	} {
		_, err := OpenAppender(tc.path, tc.dtype, tc.cols)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s %s %d: error %v, want %q", filepath.Base(tc.path), tc.dtype, tc.cols, err, tc.msg)
		}
	}
}

// TestAppenderContinuesWriteFile appends to a matrix written by WriteFile,
// whose 64-byte-aligned header has room for any row count.
func TestAppenderContinuesWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.npy")
	if err := WriteFile(path, []int{2, 3}, append(row(0, 3), row(1, 3)...)); err != nil {
		t.Fatal(err)
	}
	a, err := OpenAppender(path, "<f8", 3)
	if err != nil {
		t.Fatal(err)
	}
	appendRows(t, a, 2, 4)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	checkRows(t, path, 4, 3)
}

func TestAppenderTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.npy")
	a, err := OpenAppender(path, "<f8", 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := a.AppendRow([]float64{float64(i), float64(-i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if err := a.AppendRow([]float64{9, 9}); err != nil {
		t.Fatal(err)
	}
	if err := a.Truncate(7); err == nil {
		t.Error("truncating to more rows than the file has succeeded")
	}
	a.Close()
	arr, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0, 0, 1, -1, 9, 9}
	if len(arr.F64) != len(want) || arr.Shape[0] != 3 {
		t.Fatalf("got %v %v, want %v", arr.Shape, arr.F64, want)
	}
	for i := range want {
		if arr.F64[i] != want[i] {
			t.Fatalf("got %v, want %v", arr.F64, want)
		}
	}
}
