package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// IDX type codes (third byte of the magic number).
const (
	idxUint8   = 0x08
	idxInt8    = 0x09
	idxInt16   = 0x0B
	idxInt32   = 0x0C
	idxFloat32 = 0x0D
	idxFloat64 = 0x0E
)

// MaxIDXBytes bounds the payload size an IDX header may announce. The
// largest MNIST-like file (Fashion-MNIST train images) holds 47 MB, so
// anything near this limit is a corrupt header rather than data.
const MaxIDXBytes = 1 << 31

// IDX is a decoded IDX array of unsigned bytes (type code 0x08), the
// format of the MNIST family. Data holds the elements in row-major order;
// len(Data) is the product of Dims.
type IDX struct {
	Dims []int
	Data []byte
}

// FormatError reports a malformed or unsupported IDX stream.
type FormatError struct {
	File   string // file name, or "<stream>" when unknown
	Offset int64  // offset in the decompressed stream at which the problem was found
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("data: %s: offset %d: %s", e.File, e.Offset, e.Msg)
}

// ReadIDX decodes one IDX array from r, which may be gzip-compressed:
// compression is recognised by the gzip magic bytes, not by a name.
// The stream must end right after the data. If r is an *os.File, errors
// name its file.
func ReadIDX(r io.Reader) (*IDX, error) {
	name := "<stream>"
	var size int64 = -1
	if f, ok := r.(*os.File); ok {
		name = f.Name()
		size = fileRemaining(f)
	}
	return readIDX(r, name, size)
}

// ReadIDXFile decodes the IDX file at path, plain or gzip-compressed.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return readIDX(f, path, fileRemaining(f))
}

// fileRemaining returns the number of bytes left to read in f, or -1.
func fileRemaining(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return -1
	}
	return fi.Size() - pos
}

// countingReader counts the bytes read through it, so that errors can
// report offsets in the decompressed stream.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readIDX decodes an IDX stream. rawSize, when not negative, is the
// number of bytes left in the underlying (possibly compressed) input; it
// lets an uncompressed stream be checked against its header before any
// allocation.
func readIDX(r io.Reader, name string, rawSize int64) (*IDX, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	compressed := false
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("data: %s: gzip header: %w", name, err)
		}
		defer zr.Close()
		src = zr
		compressed = true
	}
	cr := &countingReader{r: src}
	ioErr := func(what string, err error) error {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if compressed {
				return &FormatError{File: name, Offset: cr.n, Msg: "truncated gzip stream while reading " + what}
			}
			return &FormatError{File: name, Offset: cr.n, Msg: "truncated " + what}
		}
		if compressed {
			return fmt.Errorf("data: %s: reading %s (gzip, offset %d): %w", name, what, cr.n, err)
		}
		return fmt.Errorf("data: %s: reading %s (offset %d): %w", name, what, cr.n, err)
	}

	var magic [4]byte
	if _, err := io.ReadFull(cr, magic[:]); err != nil {
		return nil, ioErr("header: want 4-byte magic number", err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, &FormatError{File: name, Msg: fmt.Sprintf(
			"bad magic number 0x%08X: want 0x0000TTNN (TT type code, NN dimension count), e.g. 0x00000803 for images, 0x00000801 for labels",
			binary.BigEndian.Uint32(magic[:]))}
	}
	if t := magic[2]; t != idxUint8 {
		return nil, &FormatError{File: name, Offset: 2, Msg: fmt.Sprintf(
			"unsupported element type 0x%02X (%s): want 0x08 (unsigned byte)", t, idxTypeName(t))}
	}
	ndim := int(magic[3])
	if ndim == 0 {
		return nil, &FormatError{File: name, Offset: 3, Msg: "magic number declares 0 dimensions: want at least 1"}
	}

	hdr := make([]byte, 4*ndim)
	if _, err := io.ReadFull(cr, hdr); err != nil {
		return nil, ioErr(fmt.Sprintf("header: want %d dimension sizes", ndim), err)
	}
	dims := make([]int, ndim)
	size := int64(1)
	hasZero := false
	for i := range dims {
		d := binary.BigEndian.Uint32(hdr[4*i:])
		dims[i] = int(d)
		if d == 0 {
			hasZero = true
		}
	}
	if !hasZero {
		for i, d := range dims {
			if int64(d) > MaxIDXBytes/size {
				return nil, &FormatError{File: name, Offset: 4 + 4*int64(i), Msg: fmt.Sprintf(
					"dimensions %s declare more than the limit of %d bytes", dimString(dims), int64(MaxIDXBytes))}
			}
			size *= int64(d)
		}
	} else {
		size = 0
	}
	headerLen := 4 + 4*int64(ndim)
	if !compressed && rawSize >= 0 && rawSize-headerLen != size {
		return nil, &FormatError{File: name, Offset: headerLen, Msg: fmt.Sprintf(
			"dimensions %s need %d data bytes, file holds %d", dimString(dims), size, rawSize-headerLen)}
	}

	buf, err := readAtMost(cr, size)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &FormatError{File: name, Offset: cr.n, Msg: fmt.Sprintf(
				"truncated data: dimensions %s need %d bytes, stream ends after %d", dimString(dims), size, int64(len(buf)))}
		}
		return nil, ioErr("data", err)
	}
	// Reading to the end also makes gzip verify its checksum.
	var one [1]byte
	switch n, err := io.ReadFull(cr, one[:]); {
	case n > 0:
		extra, err := io.Copy(io.Discard, cr)
		if err != nil {
			// A corrupt gzip body can decode to junk past the data;
			// the gzip error is the better diagnosis.
			return nil, ioErr("past the data", err)
		}
		return nil, &FormatError{File: name, Offset: headerLen + size, Msg: fmt.Sprintf(
			"dimensions %s need %d data bytes, stream holds %d more after them", dimString(dims), size, extra+1)}
	case err != nil && err != io.EOF:
		return nil, ioErr("end of stream", err)
	}
	return &IDX{Dims: dims, Data: buf}, nil
}

// readAtMost reads exactly n bytes from r. It grows its buffer as data
// arrives, so a header announcing a huge size costs memory only in
// proportion to the data actually present.
func readAtMost(r io.Reader, n int64) ([]byte, error) {
	const chunk = 1 << 20
	buf := make([]byte, 0, min(n, chunk))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, max(2*int64(cap(buf)), chunk)))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func idxTypeName(t byte) string {
	switch t {
	case idxUint8:
		return "unsigned byte"
	case idxInt8:
		return "signed byte"
	case idxInt16:
		return "int16"
	case idxInt32:
		return "int32"
	case idxFloat32:
		return "float32"
	case idxFloat64:
		return "float64"
	}
	return "unknown type"
}

func dimString(dims []int) string {
	var b strings.Builder
	for i, d := range dims {
		if i > 0 {
			b.WriteByte('x')
		}
		fmt.Fprint(&b, d)
	}
	return b.String()
}

// WriteIDX writes x as an uncompressed IDX stream of unsigned bytes.
func WriteIDX(w io.Writer, x *IDX) error {
	if len(x.Dims) == 0 || len(x.Dims) > 255 {
		return fmt.Errorf("data: WriteIDX: %d dimensions: want 1 to 255", len(x.Dims))
	}
	n := 1
	for _, d := range x.Dims {
		if d < 0 || d > 1<<32-1 {
			return fmt.Errorf("data: WriteIDX: dimension %d out of range", d)
		}
		n *= d
	}
	if n != len(x.Data) {
		return fmt.Errorf("data: WriteIDX: dimensions %s need %d bytes, have %d", dimString(x.Dims), n, len(x.Data))
	}
	hdr := make([]byte, 4+4*len(x.Dims))
	hdr[2] = idxUint8
	hdr[3] = byte(len(x.Dims))
	for i, d := range x.Dims {
		binary.BigEndian.PutUint32(hdr[4+4*i:], uint32(d))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(x.Data)
	return err
}
