package npy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// python is the interpreter used to check files against NumPy.
const python = "/usr/bin/python3"

var (
	numpyOnce sync.Once
	numpyErr  error
)

// runNumpy runs a Python script with the given arguments and returns its
// standard output. It skips the test if Python or NumPy is missing.
func runNumpy(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	numpyOnce.Do(func() {
		if _, err := os.Stat(python); err != nil {
			numpyErr = err
			return
		}
		if out, err := exec.Command(python, "-c", "import numpy").CombinedOutput(); err != nil {
			numpyErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if numpyErr != nil {
		t.Skipf("NumPy is not available: %v", numpyErr)
	}
	cmd := exec.Command(python, append([]string{"-c", script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.Bytes())
	}
	return out
}

// describeScript loads each file named on the command line and prints
// one JSON line per file: dtype, shape, and the elements in C order as
// strings (repr keeps every float exact, and names inf and nan).
const describeScript = `
import json, sys
import numpy as np
for path in sys.argv[1:]:
    a = np.load(path, mmap_mode=None)
    print(json.dumps({"dtype": a.dtype.str, "shape": list(a.shape),
                      "data": [repr(v) for v in np.ascontiguousarray(a).ravel().tolist()]}))
`

type described struct {
	Dtype string
	Shape []int
	Data  []string
}

func describeFiles(t *testing.T, paths ...string) []described {
	t.Helper()
	out := runNumpy(t, describeScript, paths...)
	var ds []described
	for line := range strings.Lines(string(out)) {
		var d described
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("%v in %q", err, line)
		}
		ds = append(ds, d)
	}
	if len(ds) != len(paths) {
		t.Fatalf("python described %d files, want %d", len(ds), len(paths))
	}
	return ds
}

// sameAsPython reports whether the elements that Python printed with
// repr equal data, bit for bit for floats (NaN matches any NaN).
func sameAsPython(py []string, data any) bool {
	var fs []float64 // the float data, or
	var is []int64   // the integer data
	switch x := data.(type) {
	case []float32:
		fs = convert(x)
	case []float64:
		fs = x
	case []int32:
		is = convert64(x)
	case []int64:
		is = x
	case []uint8:
		is = convert64(x)
	}
	if len(py) != len(fs)+len(is) {
		return false
	}
	for i, s := range py {
		if fs != nil {
			v, err := strconv.ParseFloat(s, 64) // reads inf, -inf and nan too
			w := fs[i]
			if err != nil || math.Float64bits(v) != math.Float64bits(w) && !(math.IsNaN(v) && math.IsNaN(w)) {
				return false
			}
			continue
		}
		if v, err := strconv.ParseInt(s, 10, 64); err != nil || v != is[i] {
			return false
		}
	}
	return true
}

func convert64[T int32 | uint8](x []T) []int64 {
	y := make([]int64, len(x))
	for i, v := range x {
		y[i] = int64(v)
	}
	return y
}

// TestNumpyLoadsWritten writes every dtype and shape and compares what
// numpy.load makes of the files.
func TestNumpyLoadsWritten(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	var want []described
	var data []any
	for _, d := range descrs {
		for i, shape := range shapes {
			x := sample(d, product(shape))
			path := filepath.Join(dir, fmt.Sprintf("%s_%d.npy", strings.Trim(d, "<|"), i))
			if err := WriteFile(path, shape, x); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, path)
			want = append(want, described{Dtype: d, Shape: append([]int{}, shape...)})
			data = append(data, x)
		}
	}
	got := describeFiles(t, paths...)
	for i := range got {
		g, w := got[i], want[i]
		if g.Dtype != w.Dtype || !slices.Equal(g.Shape, w.Shape) || !sameAsPython(g.Data, data[i]) {
			t.Errorf("%s: numpy read %+v, want %s %v %v", filepath.Base(paths[i]), g, w.Dtype, w.Shape, data[i])
		}
	}
}

// TestReadNumpyFiles reads files written by numpy.save and by
// numpy.lib.format.write_array with an explicit version, including a
// Fortran-order array, and checks the values against the same formulas
// evaluated in Go.
func TestReadNumpyFiles(t *testing.T) {
	dir := t.TempDir()
	runNumpy(t, `
import sys
import numpy as np
from numpy.lib import format as fmt
d = sys.argv[1]
base = np.arange(24).reshape(2, 3, 4) * 0.5 - 3
np.save(d + '/f8.npy', base)
np.save(d + '/f4.npy', base.astype('<f4'))
np.save(d + '/i4.npy', (base * 4).astype('<i4'))
np.save(d + '/i8.npy', (base * 4).astype('<i8') * 10**12)
np.save(d + '/u1.npy', (np.arange(24) * 11 % 256).astype('u1').reshape(4, 6))
np.save(d + '/scalar.npy', np.float64(2.25))
np.save(d + '/empty.npy', np.zeros((0, 3)))
np.save(d + '/fortran.npy', np.asfortranarray(base))
with open(d + '/v2.npy', 'wb') as f:
    fmt.write_array(f, base, version=(2, 0))
`, dir)
	le := func(i int) float64 { return float64(i)*0.5 - 3 } // base in C order
	check := func(name string, wantShape []int, wantDtype string, want func(i int) float64) {
		t.Helper()
		a, err := ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		a = a.COrder()
		if !slices.Equal(a.Shape, wantShape) || a.Dtype != wantDtype {
			t.Fatalf("%s: shape %v dtype %s, want %v %s", name, a.Shape, a.Dtype, wantShape, wantDtype)
		}
		for i, v := range a.Float64s() {
			if v != want(i) {
				t.Fatalf("%s: element %d = %v, want %v", name, i, v, want(i))
			}
		}
	}
	s := []int{2, 3, 4}
	check("f8.npy", s, "<f8", le)
	check("f4.npy", s, "<f4", le)
	check("i4.npy", s, "<i4", func(i int) float64 { return 4 * le(i) })
	check("i8.npy", s, "<i8", func(i int) float64 { return 4 * le(i) * 1e12 })
	check("u1.npy", []int{4, 6}, "|u1", func(i int) float64 { return float64(i * 11 % 256) })
	check("scalar.npy", []int{}, "<f8", func(int) float64 { return 2.25 })
	check("empty.npy", []int{0, 3}, "<f8", nil)
	check("fortran.npy", s, "<f8", le)
	check("v2.npy", s, "<f8", le)
	if a, _ := ReadFile(filepath.Join(dir, "fortran.npy")); !a.FortranOrder {
		t.Error("fortran.npy: FortranOrder not set")
	}
}

// TestNumpyParsesVersion2 has NumPy parse a version 2.0 header that
// Write produced because it exceeds 65535 bytes. (NumPy cannot build the
// array itself: it has 22000 dimensions.)
func TestNumpyParsesVersion2(t *testing.T) {
	shape := make([]int, 22000)
	for i := range shape {
		shape[i] = 1
	}
	shape[7] = 3
	path := filepath.Join(t.TempDir(), "v2.npy")
	if err := WriteFile(path, shape, []float32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	out := runNumpy(t, `
import sys
from numpy.lib import format as fmt
with open(sys.argv[1], 'rb') as f:
    v = fmt.read_magic(f)
    shape, fortran, dtype = fmt.read_array_header_2_0(f, max_header_size=10**6)
    print(v, len(shape), shape[7], sum(shape), fortran, dtype.str, f.tell() % 64)
`, path)
	if got, want := strings.TrimSpace(string(out)), "(2, 0) 22000 3 22002 False <f4 0"; got != want {
		t.Errorf("numpy says %q, want %q", got, want)
	}
}

// TestNumpyLoadsAppended checks the appender's files with numpy.load,
// memory-mapped too, including one with the remains of an interrupted
// append after the counted rows.
func TestNumpyLoadsAppended(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rows.npy")
	const cols = 6
	a, err := OpenAppender(path, "<f8", cols)
	if err != nil {
		t.Fatal(err)
	}
	appendRows(t, a, 0, 7)
	var all []float64
	for r := range 7 {
		all = append(all, row(r, cols)...)
	}
	// Check while the Appender is open: the file is valid between appends.
	check := func(what string) {
		t.Helper()
		for _, mode := range []string{"None", "'r'"} {
			script := strings.Replace(describeScript, "mmap_mode=None", "mmap_mode="+mode, 1)
			var d described
			if err := json.Unmarshal(runNumpy(t, script, path), &d); err != nil {
				t.Fatal(err)
			}
			if d.Dtype != "<f8" || !slices.Equal(d.Shape, []int{7, cols}) || !sameAsPython(d.Data, all) {
				t.Errorf("%s, mmap_mode=%s: numpy read %+v", what, mode, d)
			}
		}
	}
	check("open appender")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	appendBytes(t, path, bytes.Repeat([]byte{0x7f}, 8*cols-5))
	check("trailing bytes")
}
