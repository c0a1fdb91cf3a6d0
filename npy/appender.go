package npy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// appendHeaderLen is the header size of a new appender file. The header
// text is about 70 bytes; the rest is room for the row count to grow to
// maxRowDigits digits without moving the data.
const appendHeaderLen = 128

// maxRowDigits is the width reserved for the row count: any int64.
const maxRowDigits = 19

// Appender adds rows to an .npy file that holds a two-dimensional array
// of shape (rows, cols) in C order. Each AppendRow writes the row's data
// after the existing rows and then rewrites the row count in the header
// in place; the header has room for any row count, so data never moves.
//
// Because data goes first and the header second, a process that dies at
// any point leaves a valid file: its header counts the rows whose append
// completed, and any bytes after them are ignored by [Read] and by
// numpy.load. Reopening the file with [OpenAppender] cuts those bytes off.
// Against a system crash or power loss only rows appended before the last
// Sync (or Close) are safe; a later row may be lost or, since the kernel
// may write the header before the data, read back as zeros.
//
// An Appender is not safe for concurrent use, and a file must not be open
// in two Appenders at once.
type Appender struct {
	f       *os.File
	path    string
	h       header // h.shape is {rows, cols}
	size    int    // bytes per element
	prefix  int64  // bytes before the header text: 10 (v1.0) or 12 (v2.0, v3.0)
	dataOff int64  // offset of the first row
	buf     []byte // one encoded row, allocated by the first AppendRow
	err     error  // sticky error after a failed append
}

// OpenAppender opens the named file for appending rows of cols elements
// of the given dtype ("<f4", "<f8", "<i4", "<i8" or "|u1"), creating it
// with zero rows if it does not exist or is empty. An existing file must
// hold a C-order two-dimensional array of that dtype with cols columns and
// a header with room for a 19-digit row count (files written by Appender,
// and numpy.save files of small arrays, qualify). Bytes after the rows
// that the header counts, the remains of an interrupted append, are
// truncated.
func OpenAppender(path string, dtype string, cols int) (*Appender, error) {
	descr, size, err := normDescr(dtype)
	if err != nil {
		return nil, fmt.Errorf("npy: OpenAppender %s: %w", path, err)
	}
	if cols < 1 {
		return nil, fmt.Errorf("npy: OpenAppender %s: %d columns, want at least 1", path, cols)
	}
	if cols > math.MaxInt/size {
		return nil, fmt.Errorf("npy: OpenAppender %s: %d columns are too many", path, cols)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	a := &Appender{
		f:    f,
		path: path,
		h:    header{descr: descr, shape: []int{0, cols}},
		size: size,
	}
	if err := a.init(); err != nil {
		f.Close()
		return nil, fmt.Errorf("npy: OpenAppender %s: %w", path, err)
	}
	return a, nil
}

// init writes the header of an empty file, or checks the header of an
// existing one and drops an incomplete trailing row.
func (a *Appender) init() error {
	st, err := a.f.Stat()
	if err != nil {
		return err
	}
	cols := a.h.shape[1]
	// The header must have room for the largest row count.
	big := header{descr: a.h.descr, shape: []int{math.MaxInt64, cols}}
	need := int64(len(big.dictText())) + 1
	if st.Size() == 0 {
		b := a.h.encode(max(appendHeaderLen, 10+int(need)))
		a.prefix, a.dataOff = 10, int64(len(b))
		// No sync: an empty or header-only file reopens as a new one, and the caller's Sync
		// covers the header with the first rows.
		_, err := a.f.WriteAt(b, 0)
		return err
	}
	h, off, err := readHeader(io.NewSectionReader(a.f, 0, st.Size()))
	if err != nil {
		return err
	}
	switch {
	case h.descr != a.h.descr:
		return fmt.Errorf("file holds dtype %s, want %s", h.descr, a.h.descr)
	case len(h.shape) != 2:
		return fmt.Errorf("file holds an array of shape %s, want 2 dimensions", shapeText(h.shape))
	case h.shape[1] != cols:
		return fmt.Errorf("file holds %d columns, want %d", h.shape[1], cols)
	case h.fortran && h.shape[0] > 1 && cols > 1:
		return errors.New("file is in Fortran order, rows cannot be appended")
	}
	var pre [8]byte
	if _, err := a.f.ReadAt(pre[:], 0); err != nil {
		return err
	}
	a.prefix = 12
	if pre[6] == 1 {
		a.prefix = 10
	}
	a.dataOff = off
	if off-a.prefix < need {
		return fmt.Errorf("header has %d bytes, %d needed to let the row count grow", off-a.prefix, need)
	}
	// Keep the rows that are both counted and complete.
	rowBytes := int64(cols * a.size)
	rows := min(int64(h.shape[0]), (st.Size()-off)/rowBytes)
	a.h.shape[0] = int(rows)
	if end := off + rows*rowBytes; st.Size() > end || rows != int64(h.shape[0]) || h.fortran {
		if err := a.f.Truncate(end); err != nil {
			return err
		}
		if err := a.writeHeader(); err != nil {
			return err
		}
		return a.f.Sync()
	}
	return nil
}

// writeHeader rewrites the header text, padded to its existing length.
func (a *Appender) writeHeader() error {
	n := a.dataOff - a.prefix
	b := make([]byte, n)
	k := copy(b, a.h.dictText())
	for i := k; i < len(b)-1; i++ {
		b[i] = ' '
	}
	b[n-1] = '\n'
	_, err := a.f.WriteAt(b, a.prefix)
	return err
}

// Rows returns the number of rows in the file.
func (a *Appender) Rows() int { return a.h.shape[0] }

// Cols returns the number of elements per row.
func (a *Appender) Cols() int { return a.h.shape[1] }

// Dtype returns the canonical descr of the elements, such as "<f8".
func (a *Appender) Dtype() string { return a.h.descr }

// AppendRow appends one row. row must be a slice of the Appender's
// element type ([]float64 for "<f8", []float32 for "<f4", …) of length
// Cols(). After a failed write the Appender refuses further rows; the
// file stays valid and reopening it continues after the last complete
// row.
func (a *Appender) AppendRow(row any) error {
	if a.err != nil {
		return a.err
	}
	if a.f == nil {
		return fmt.Errorf("npy: %s: AppendRow on a closed Appender", a.path)
	}
	descr, n, err := descrOf(row)
	if err != nil {
		return fmt.Errorf("npy: %s: %w", a.path, err)
	}
	if descr != a.h.descr || n != a.Cols() {
		return fmt.Errorf("npy: %s: row is %d elements of %s, want %d of %s", a.path, n, descr, a.Cols(), a.h.descr)
	}
	if a.buf == nil {
		a.buf = make([]byte, a.Cols()*a.size)
	}
	a.encodeRow(row)
	rowBytes := int64(len(a.buf))
	if _, err := a.f.WriteAt(a.buf, a.dataOff+int64(a.Rows())*rowBytes); err != nil {
		a.err = fmt.Errorf("npy: %s: appending row %d: %w", a.path, a.Rows(), err)
		return a.err
	}
	a.h.shape[0]++
	if err := a.writeHeader(); err != nil {
		a.h.shape[0]--
		a.err = fmt.Errorf("npy: %s: updating the header for row %d: %w", a.path, a.Rows(), err)
		return a.err
	}
	return nil
}

func (a *Appender) encodeRow(row any) {
	le := binary.LittleEndian
	b := a.buf
	switch x := row.(type) {
	case []float32:
		for i, v := range x {
			le.PutUint32(b[4*i:], math.Float32bits(v))
		}
	case []float64:
		for i, v := range x {
			le.PutUint64(b[8*i:], math.Float64bits(v))
		}
	case []int32:
		for i, v := range x {
			le.PutUint32(b[4*i:], uint32(v))
		}
	case []int64:
		for i, v := range x {
			le.PutUint64(b[8*i:], uint64(v))
		}
	case []uint8:
		copy(b, x)
	}
}

// Sync commits the rows appended so far to stable storage.
func (a *Appender) Sync() error {
	if a.f == nil {
		return fmt.Errorf("npy: %s: Sync on a closed Appender", a.path)
	}
	return a.f.Sync()
}

// Close syncs and closes the file. Closing a closed Appender is a no-op.
func (a *Appender) Close() error {
	if a.f == nil {
		return nil
	}
	err := a.f.Sync()
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	a.f = nil
	return err
}

// Truncate drops every row after the first rows (used to roll a file back to a checkpoint).
func (a *Appender) Truncate(rows int) error {
	if a.err != nil {
		return a.err
	}
	if rows < 0 || rows > a.h.shape[0] {
		return fmt.Errorf("npy: %s: cannot truncate %d rows to %d", a.path, a.h.shape[0], rows)
	}
	if rows == a.h.shape[0] {
		return nil
	}
	a.h.shape[0] = rows
	if err := a.writeHeader(); err != nil {
		return err
	}
	if err := a.f.Truncate(a.dataOff + int64(rows)*int64(a.h.shape[1]*a.size)); err != nil {
		return err
	}
	return a.f.Sync()
}
