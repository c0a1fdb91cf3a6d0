package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// sample returns n values of the type that descr names, covering the
// extremes of the type: infinities, NaN and -0 for floats, the minimum
// and maximum for integers.
func sample(descr string, n int) any {
	switch descr {
	case "<f4":
		x := make([]float32, n)
		special := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), float32(math.Copysign(0, -1)), math.MaxFloat32, math.SmallestNonzeroFloat32}
		for i := range x {
			x[i] = float32(i)*0.25 - 1
			if i < len(special) {
				x[i] = special[i]
			}
		}
		return x
	case "<f8":
		x := make([]float64, n)
		special := []float64{math.Inf(1), math.Inf(-1), math.NaN(), math.Copysign(0, -1), math.MaxFloat64, math.SmallestNonzeroFloat64}
		for i := range x {
			x[i] = float64(i)*0.1 - 1
			if i < len(special) {
				x[i] = special[i]
			}
		}
		return x
	case "<i4":
		x := make([]int32, n)
		for i := range x {
			x[i] = int32(i*7 - 3)
		}
		if n >= 2 {
			x[0], x[1] = math.MinInt32, math.MaxInt32
		}
		return x
	case "<i8":
		x := make([]int64, n)
		for i := range x {
			x[i] = int64(i)*1e12 - 5
		}
		if n >= 2 {
			x[0], x[1] = math.MinInt64, math.MaxInt64
		}
		return x
	case "|u1":
		x := make([]uint8, n)
		for i := range x {
			x[i] = uint8(i * 37)
		}
		return x
	}
	panic(descr)
}

// sameBits compares two data slices element by element, floats by their
// bits so that NaN equals NaN and -0 differs from 0.
func sameBits(a, b any) bool {
	switch x := a.(type) {
	case []float32:
		y, ok := b.([]float32)
		return ok && slices.EqualFunc(x, y, func(u, v float32) bool { return math.Float32bits(u) == math.Float32bits(v) })
	case []float64:
		y, ok := b.([]float64)
		return ok && slices.EqualFunc(x, y, func(u, v float64) bool { return math.Float64bits(u) == math.Float64bits(v) })
	}
	return reflect.DeepEqual(a, b)
}

var descrs = []string{"<f4", "<f8", "<i4", "<i8", "|u1"}

var shapes = [][]int{nil, {0}, {1}, {7}, {2, 3}, {3, 0}, {0, 4}, {2, 3, 4}, {1, 1, 1, 5}}

func product(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

func TestRoundTrip(t *testing.T) {
	for _, d := range descrs {
		for _, shape := range shapes {
			n := product(shape)
			data := sample(d, n)
			var buf bytes.Buffer
			if err := Write(&buf, shape, data); err != nil {
				t.Fatalf("%s %v: %v", d, shape, err)
			}
			b := buf.Bytes()
			off := len(b) - n*itemSize[d]
			if off%64 != 0 || b[off-1] != '\n' {
				t.Errorf("%s %v: data at offset %d, header ends in %q", d, shape, off, b[off-1])
			}
			if hlen := int(binary.LittleEndian.Uint16(b[8:])); b[6] != 1 || b[7] != 0 || hlen != off-10 {
				t.Errorf("%s %v: version %d.%d, header length %d, want 1.0 and %d", d, shape, b[6], b[7], hlen, off-10)
			}
			a, err := Read(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s %v: %v", d, shape, err)
			}
			if a.Dtype != d || len(a.Shape) != len(shape) || !slices.Equal(a.Shape, shape) || a.FortranOrder {
				t.Errorf("%s %v: read dtype %s shape %v fortran %v", d, shape, a.Dtype, a.Shape, a.FortranOrder)
			}
			if !sameBits(a.Data(), data) {
				t.Errorf("%s %v: data %v, want %v", d, shape, a.Data(), data)
			}
		}
	}
}

// TestHeaderText checks the header against the layout numpy writes.
func TestHeaderText(t *testing.T) {
	for _, tc := range []struct {
		shape []int
		dict  string
	}{
		{nil, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }"},
		{[]int{5}, "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }"},
		{[]int{2, 30}, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 30), }"},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, tc.shape, make([]float64, product(tc.shape))); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		hdr := string(b[10 : 10+binary.LittleEndian.Uint16(b[8:])])
		// The smallest multiple of 64 that holds prefix, dict and newline.
		total := 64
		for total < 10+len(tc.dict)+1 {
			total += 64
		}
		want := tc.dict + strings.Repeat(" ", total-10-len(tc.dict)-1) + "\n"
		if string(b[:6]) != "\x93NUMPY" || hdr != want {
			t.Errorf("shape %v: header %q, want %q", tc.shape, hdr, want)
		}
	}
}

// TestVersion2 writes a header longer than a uint16 can count.
func TestVersion2(t *testing.T) {
	shape := make([]int, 22000) // "1, " per dimension: 66000 bytes
	for i := range shape {
		shape[i] = 1
	}
	var buf bytes.Buffer
	if err := Write(&buf, shape, []int32{-42}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	hlen := int(binary.LittleEndian.Uint32(b[8:]))
	if b[6] != 2 || b[7] != 0 || hlen <= math.MaxUint16 || (12+hlen)%64 != 0 || 12+hlen+4 != len(b) {
		t.Fatalf("version %d.%d, header length %d, file %d bytes", b[6], b[7], hlen, len(b))
	}
	a, err := Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Shape, shape) || !slices.Equal(a.I32, []int32{-42}) {
		t.Errorf("read %d dimensions, data %v", len(a.Shape), a.I32)
	}
}

// handMade assembles an .npy file from its parts as the format
// specification describes them.
func handMade(major byte, dict string, pad int, data []byte) []byte {
	text := dict + strings.Repeat(" ", pad) + "\n"
	b := []byte{0x93, 'N', 'U', 'M', 'P', 'Y', major, 0}
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(text)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(text)))
	}
	b = append(b, text...)
	return append(b, data...)
}

func TestReadHandMade(t *testing.T) {
	le := binary.LittleEndian
	var f8 []byte
	for _, v := range []float64{1.5, -2, 1e300} {
		f8 = le.AppendUint64(f8, math.Float64bits(v))
	}
	var i8 []byte
	for _, v := range []int64{3, -1} {
		i8 = le.AppendUint64(i8, uint64(v))
	}
	var f4 []byte
	for _, v := range []float32{0.5, 2, 4, 8, 16, 32} {
		f4 = le.AppendUint32(f4, math.Float32bits(v))
	}
	for _, tc := range []struct {
		name string
		file []byte
		want Array
	}{
		{"keys in another order", handMade(1, "{'shape': (3,), 'fortran_order': False, 'descr': '<f8'}", 3, f8),
			Array{Shape: []int{3}, Dtype: "<f8", F64: []float64{1.5, -2, 1e300}}},
		{"version 2.0", handMade(2, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 0, f8),
			Array{Shape: []int{3}, Dtype: "<f8", F64: []float64{1.5, -2, 1e300}}},
		{"version 3.0, double quotes", handMade(3, `{"descr": "<f8", "fortran_order": False, "shape": (1, 3)}`, 7, f8),
			Array{Shape: []int{1, 3}, Dtype: "<f8", F64: []float64{1.5, -2, 1e300}}},
		{"Python 2 longs", handMade(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 1L), }", 1, i8),
			Array{Shape: []int{2, 1}, Dtype: "<i8", I64: []int64{3, -1}}},
		{"0-d, trailing bytes", handMade(1, "{'descr':'<i8','fortran_order':False,'shape':()}", 0, i8),
			Array{Shape: []int{}, Dtype: "<i8", I64: []int64{3}}},
		{"Fortran order", handMade(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 20, f4),
			Array{Shape: []int{2, 3}, Dtype: "<f4", F32: []float32{0.5, 2, 4, 8, 16, 32}, FortranOrder: true}},
		{"uint8 without byte order", handMade(1, "{'descr': 'u1', 'fortran_order': False, 'shape': (2,), }", 0, []byte{200, 7}),
			Array{Shape: []int{2}, Dtype: "|u1", U8: []uint8{200, 7}}},
		{"empty", handMade(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (0, 5), }", 0, nil),
			Array{Shape: []int{0, 5}, Dtype: "<i4", I32: []int32{}}},
	} {
		a, err := Read(bytes.NewReader(tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(a, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, a, tc.want)
		}
	}
}

func TestReadErrors(t *testing.T) {
	v1 := func(dict string) []byte { return handMade(1, dict, 0, make([]byte, 64)) }
	deep := strings.Repeat("(", 100) + strings.Repeat(")", 100)
	for _, tc := range []struct {
		name string
		file []byte
		err  error
		msg  string
	}{
		{"empty", nil, ErrMagic, "0 bytes"},
		{"short", []byte("\x93NUM"), ErrMagic, "4 bytes"},
		{"bad magic", []byte("\x93NUMPZ\x01\x00\x00\x00"), ErrMagic, "NUMPZ"},
		{"zip file", []byte("PK\x03\x04 plus more bytes"), ErrMagic, "PK"},
		{"no version", []byte("\x93NUMPY\x01"), ErrHeader, "inside the version"},
		{"version 4.0", []byte("\x93NUMPY\x04\x00\x10\x00"), ErrVersion, "4.0"},
		{"version 1.1", []byte("\x93NUMPY\x01\x01\x10\x00"), ErrVersion, "1.1"},
		{"no length", []byte("\x93NUMPY\x02\x00\x10\x00"), ErrHeader, "header length"},
		{"huge length", []byte("\x93NUMPY\x02\x00\xff\xff\xff\xff"), ErrHeader, "exceeds"},
		{"short header", []byte("\x93NUMPY\x01\x00\x40\x00{'descr'"), ErrHeader, "8 of the 64"},
		{"not a dict", v1("('<f8', False, (2,))"), ErrHeader, "tuple, want a dict"},
		{"syntax", v1("{'descr': '<f8' 'fortran_order': False, 'shape': (2,)}"), ErrHeader, "want ',' or '}'"},
		{"unclosed string", v1("{'descr': '<f8}"), ErrHeader, "string not closed"},
		{"unpaired quotes", v1("{'descr': '<f8, 'fortran_order': False, 'shape': (2,)}"), ErrHeader, "byte 17: unexpected 'f', want ',' or '}'"},
		{"unknown name", v1("{'descr': '<f8', 'fortran_order': false, 'shape': (2,)}"), ErrHeader, `unknown name "false"`},
		{"float", v1("{'descr': '<f8', 'fortran_order': False, 'shape': (2.0,)}"), ErrHeader, "number syntax"},
		{"trailing text", v1("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} x"), ErrHeader, "after the value"},
		{"missing key", v1("{'descr': '<f8', 'shape': (2,)}"), ErrHeader, "'fortran_order' is missing"},
		{"extra key", v1("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}"), ErrHeader, `unexpected key "x"`},
		{"key not a string", v1("{1: '<f8'}"), ErrHeader, "dict key is the int 1"},
		{"big endian", v1("{'descr': '>f8', 'fortran_order': False, 'shape': (2,)}"), ErrDtype, `">f8"`},
		{"float16", v1("{'descr': '<f2', 'fortran_order': False, 'shape': (2,)}"), ErrDtype, `"<f2"`},
		{"structured", v1("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,)}"), ErrDtype, "structured"},
		{"shape not a tuple", v1("{'descr': '<f8', 'fortran_order': False, 'shape': [2]}"), ErrHeader, "shape is a list"},
		{"shape (2)", v1("{'descr': '<f8', 'fortran_order': False, 'shape': (2)}"), ErrHeader, "shape is a int"},
		{"negative dimension", v1("{'descr': '<f8', 'fortran_order': False, 'shape': (2, -1)}"), ErrHeader, "element 1 is the int -1"},
		{"bool dimension", v1("{'descr': '<f8', 'fortran_order': False, 'shape': (True,)}"), ErrHeader, "element 0 is True"},
		{"fortran not a bool", v1("{'descr': '<f8', 'fortran_order': 0, 'shape': (2,)}"), ErrHeader, "fortran_order is a int"},
		{"too many elements", v1("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}"), ErrHeader, "too many"},
		{"too many bytes", v1("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,)}"), ErrHeader, "too many bytes"},
		{"integer overflow", v1("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}"), ErrHeader, "too large"},
		{"deep nesting", v1(deep), ErrHeader, "nesting"},
		{"short data", v1("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 3)}"), ErrData, "needs 72 data bytes, 64 are present"},
		{"huge shape, no data", handMade(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,)}", 0, nil), ErrData, "0 are present"},
	} {
		a, err := Read(bytes.NewReader(tc.file))
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want %v containing %q", tc.name, err, tc.err, tc.msg)
		}
		if err != nil && !reflect.DeepEqual(a, Array{}) {
			t.Errorf("%s: non-zero array with an error", tc.name)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		shape []int
		data  any
		msg   string
	}{
		{[]int{2, 3}, make([]float64, 5), "holds 6 elements, data has 5"},
		{nil, []float64{}, "holds 1 elements, data has 0"},
		{[]int{2}, []int{1, 2}, "type []int is not supported"},
		{[]int{-1}, []float32{}, "negative dimension"},
		{[]int{1 << 62, 8}, []uint8{}, "too many"},
	} {
		var buf bytes.Buffer
		err := Write(&buf, tc.shape, tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("shape %v: error %v, want %q", tc.shape, err, tc.msg)
		}
		if buf.Len() != 0 {
			t.Errorf("shape %v: %d bytes written before the error", tc.shape, buf.Len())
		}
	}
}

func TestCOrder(t *testing.T) {
	shape := []int{2, 3, 4}
	// In Fortran order element (i, j, k) sits at i + 2j + 6k; give it the
	// value of its C-order position 12i + 4j + k.
	f := make([]int64, 24)
	for i := range 2 {
		for j := range 3 {
			for k := range 4 {
				f[i+2*j+6*k] = int64(12*i + 4*j + k)
			}
		}
	}
	a := Array{Shape: shape, Dtype: "<i8", I64: f, FortranOrder: true}
	c := a.COrder()
	for i, v := range c.I64 {
		if v != int64(i) {
			t.Fatalf("C order %v", c.I64)
		}
	}
	if c.FortranOrder || !a.FortranOrder || a.I64[1] != 12 {
		t.Error("COrder changed its receiver or kept the flag")
	}
	v := Array{Shape: []int{3}, Dtype: "<f8", F64: []float64{1, 2, 3}, FortranOrder: true}
	if w := v.COrder(); w.FortranOrder || !slices.Equal(w.F64, v.F64) {
		t.Error("1-d array changed")
	}
}

func TestFloat64s(t *testing.T) {
	for _, d := range descrs {
		data := sample(d, 5)
		var buf bytes.Buffer
		if err := Write(&buf, []int{5}, data); err != nil {
			t.Fatal(err)
		}
		a, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		got := a.Float64s()
		want := reflect.ValueOf(data)
		for i := range 5 {
			w := want.Index(i)
			var x float64
			switch w.Kind() {
			case reflect.Float32, reflect.Float64:
				x = w.Float()
			case reflect.Int32, reflect.Int64:
				x = float64(w.Int())
			default:
				x = float64(w.Uint())
			}
			if math.Float64bits(got[i]) != math.Float64bits(x) && !(math.IsNaN(x) && math.IsNaN(got[i])) {
				t.Errorf("%s[%d] = %v, want %v", d, i, got[i], x)
			}
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.npy")
	if err := WriteFile(path, []int{2, 2}, []float64{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []int{3}, []int32{5, 6, 7}); err != nil {
		t.Fatal(err)
	}
	// A failed write leaves the previous file and no temporary file.
	if err := WriteFile(path, []int{3}, []int32{5}); err == nil {
		t.Fatal("no error for a length mismatch")
	}
	a, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Shape, []int{3}) || !slices.Equal(a.I32, []int32{5, 6, 7}) {
		t.Errorf("read %v %v", a.Shape, a.I32)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only x.npy", len(ents))
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v", st.Mode(), err)
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "short.npy")
	var buf bytes.Buffer
	if err := Write(&buf, []int{4}, []float64{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes()[:buf.Len()-3], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	if !errors.Is(err, ErrData) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "needs 32 data bytes, 29 are present") {
		t.Errorf("error %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.npy")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseLiteral(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{"()", tuple{}},
		{"(1,)", tuple{int64(1)}},
		{"( 1 , 2 , )", tuple{int64(1), int64(2)}},
		{"(((3)))", int64(3)},
		{"[1, 'a', None, True]", list{int64(1), "a", nil, true}},
		{"-  5", int64(-5)},
		{"+7L", int64(7)},
		{`'it\'s'`, "it's"},
		{`"a\"b\\c"`, `a"b\c`},
		{"{'a': {'b': ()}, }", dict{{"a", dict{{"b", tuple{}}}}}},
		{"\t{}\n", dict(nil)},
	} {
		p := &parser{s: []byte(tc.in)}
		got, err := p.parse()
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "(", "(1 2)", "[1,,]", "'abc", "'a\nb'", `'\x41'`, "1e5", "0x10", "{'a' 1}", "{'a': 1 'b'}", "abc", "@"} {
		p := &parser{s: []byte(in)}
		if v, err := p.parse(); err == nil {
			t.Errorf("%q parsed as %#v", in, v)
		}
	}
}
