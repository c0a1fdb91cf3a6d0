package npy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// magic opens every .npy file.
const magic = "\x93NUMPY"

// align is the boundary, in bytes, at which array data starts.
const align = 64

// maxHeaderLen bounds the header a reader accepts. Real headers are a
// few hundred bytes; the bound keeps a corrupt length from costing
// gigabytes.
const maxHeaderLen = 1 << 24

// Errors returned, wrapped with details, by the readers. Test for them
// with errors.Is.
var (
	ErrMagic   = errors.New("npy: not an .npy file (bad magic string)")
	ErrVersion = errors.New("npy: unsupported format version")
	ErrHeader  = errors.New("npy: malformed header")
	ErrDtype   = errors.New("npy: unsupported dtype")
	ErrData    = errors.New("npy: data shorter than the header's shape")
)

// itemSize maps the supported descr strings to their element size.
var itemSize = map[string]int{
	"<f4": 4,
	"<f8": 8,
	"<i4": 4,
	"<i8": 8,
	"|u1": 1,
}

const supported = "<f4, <f8, <i4, <i8, |u1"

// normDescr returns the canonical form of a supported descr: single bytes
// have no byte order, so '<u1', '>u1' and 'u1' all mean '|u1'.
func normDescr(d string) (string, int, error) {
	switch d {
	case "<u1", ">u1", "=u1", "u1", "|u1":
		d = "|u1"
	}
	n, ok := itemSize[d]
	if !ok {
		return "", 0, fmt.Errorf("%w %q (supported: %s)", ErrDtype, d, supported)
	}
	return d, n, nil
}

// header is the content of an .npy header.
type header struct {
	descr   string
	fortran bool
	shape   []int
}

// count returns the number of elements, or an error if it does not fit
// in an int or its byte size does not fit in an int64.
func count(shape []int, size int) (int, error) {
	n := 1
	for _, s := range shape {
		if s < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %s", s, shapeText(shape))
		}
		if s == 0 {
			return 0, nil
		}
	}
	for _, s := range shape {
		if n > math.MaxInt/s {
			return 0, fmt.Errorf("shape %s has too many elements", shapeText(shape))
		}
		n *= s
	}
	if size > 0 && n > math.MaxInt64/size {
		return 0, fmt.Errorf("shape %s has too many bytes", shapeText(shape))
	}
	return n, nil
}

// shapeText formats shape as a Python tuple: (), (5,) or (2, 3).
func shapeText(shape []int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, s := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(s))
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// dictText returns the header dict as numpy writes it, without padding.
func (h header) dictText() string {
	fo := "False"
	if h.fortran {
		fo = "True"
	}
	return "{'descr': '" + h.descr + "', 'fortran_order': " + fo + ", 'shape': " + shapeText(h.shape) + ", }"
}

// encode returns the complete header, magic string to final newline,
// padded to a multiple of 64 bytes and to at least minTotal bytes.
// It uses version 1.0 when the header length fits in a uint16 and
// version 2.0 otherwise.
func (h header) encode(minTotal int) []byte {
	dict := h.dictText()
	for _, pre := range []int{10, 12} {
		total := pre + len(dict) + 1
		total = max(total, minTotal)
		total = (total + align - 1) / align * align
		hlen := total - pre
		if pre == 10 && hlen > math.MaxUint16 {
			continue
		}
		b := make([]byte, total)
		copy(b, magic)
		if pre == 10 {
			b[6], b[7] = 1, 0
			binary.LittleEndian.PutUint16(b[8:], uint16(hlen))
		} else {
			b[6], b[7] = 2, 0
			binary.LittleEndian.PutUint32(b[8:], uint32(hlen))
		}
		n := copy(b[pre:], dict)
		for i := pre + n; i < total-1; i++ {
			b[i] = ' '
		}
		b[total-1] = '\n'
		return b
	}
	panic("unreachable")
}

// readHeader reads the magic string, version, header length and header
// from r, and returns the parsed header and the number of bytes read
// (the offset of the data).
func readHeader(r io.Reader) (header, int64, error) {
	var pre [12]byte
	if n, err := io.ReadFull(r, pre[:8]); err != nil {
		k := min(n, len(magic))
		switch {
		case string(pre[:k]) != magic[:k]:
			return header{}, 0, fmt.Errorf("%w: starts with %q, want %q", ErrMagic, pre[:k], magic)
		case n < len(magic):
			return header{}, 0, fmt.Errorf("%w: input is only %d bytes long", ErrMagic, n)
		}
		return header{}, 0, fmt.Errorf("%w: file ends after %d bytes, inside the version", ErrHeader, n)
	}
	if string(pre[:6]) != magic {
		return header{}, 0, fmt.Errorf("%w: starts with %q, want %q", ErrMagic, pre[:6], magic)
	}
	major, minor := pre[6], pre[7]
	var hlen, off int64
	switch {
	case major == 1 && minor == 0:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return header{}, 0, fmt.Errorf("%w: file ends inside the header length", ErrHeader)
		}
		hlen, off = int64(binary.LittleEndian.Uint16(pre[8:])), 10
	case (major == 2 || major == 3) && minor == 0:
		if _, err := io.ReadFull(r, pre[8:12]); err != nil {
			return header{}, 0, fmt.Errorf("%w: file ends inside the header length", ErrHeader)
		}
		hlen, off = int64(binary.LittleEndian.Uint32(pre[8:])), 12
	default:
		return header{}, 0, fmt.Errorf("%w %d.%d (supported: 1.0, 2.0, 3.0)", ErrVersion, major, minor)
	}
	if hlen > maxHeaderLen {
		return header{}, 0, fmt.Errorf("%w: header length %d exceeds the limit of %d bytes", ErrHeader, hlen, maxHeaderLen)
	}
	// ReadAll grows its buffer as bytes arrive, so a length that the
	// input cannot back is not allocated up front.
	text, err := io.ReadAll(io.LimitReader(r, hlen))
	if err != nil {
		return header{}, 0, err
	}
	if int64(len(text)) < hlen {
		return header{}, 0, fmt.Errorf("%w: file ends after %d of the %d header bytes", ErrHeader, len(text), hlen)
	}
	h, err := parseHeader(text)
	if err != nil {
		return header{}, 0, err
	}
	return h, off + hlen, nil
}

// parseHeader interprets the header text: a Python dict literal with
// exactly the keys 'descr' (a supported dtype string), 'fortran_order' (a
// bool) and 'shape' (a tuple of non-negative ints), in any order.
func parseHeader(text []byte) (header, error) {
	p := &parser{s: text}
	v, err := p.parse()
	if err != nil {
		return header{}, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	d, ok := v.(dict)
	if !ok {
		return header{}, fmt.Errorf("%w: header is a %s, want a dict", ErrHeader, kind(v))
	}
	var h header
	// As in Python, a repeated key keeps its last value.
	var seen [3]bool
	for _, kv := range d {
		switch kv.key {
		case "descr":
			s, ok := kv.val.(string)
			if !ok {
				return header{}, fmt.Errorf("%w: descr is a %s; structured dtypes are not supported (supported: %s)", ErrDtype, kind(kv.val), supported)
			}
			h.descr = s
			seen[0] = true
		case "fortran_order":
			b, ok := kv.val.(bool)
			if !ok {
				return header{}, fmt.Errorf("%w: fortran_order is a %s, want True or False", ErrHeader, kind(kv.val))
			}
			h.fortran = b
			seen[1] = true
		case "shape":
			t, ok := kv.val.(tuple)
			if !ok {
				return header{}, fmt.Errorf("%w: shape is a %s, want a tuple of ints", ErrHeader, kind(kv.val))
			}
			h.shape = make([]int, len(t))
			for i, e := range t {
				n, ok := e.(int64)
				if !ok || n < 0 || n > math.MaxInt {
					return header{}, fmt.Errorf("%w: shape element %d is %s, want a non-negative int", ErrHeader, i, describe(e))
				}
				h.shape[i] = int(n)
			}
			seen[2] = true
		default:
			return header{}, fmt.Errorf("%w: unexpected key %q (want exactly 'descr', 'fortran_order', 'shape')", ErrHeader, kv.key)
		}
	}
	for i, name := range []string{"descr", "fortran_order", "shape"} {
		if !seen[i] {
			return header{}, fmt.Errorf("%w: key '%s' is missing", ErrHeader, name)
		}
	}
	descr, size, err := normDescr(h.descr)
	if err != nil {
		return header{}, err
	}
	h.descr = descr
	if _, err := count(h.shape, size); err != nil {
		return header{}, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	return h, nil
}
