package npy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// Array is an array read from an .npy file. Exactly one of the slices is
// set, the one that matches Dtype, and it holds the elements in the order
// of the file: C (row-major) order unless FortranOrder is set.
type Array struct {
	// Shape is empty for a 0-d array, which holds one element.
	Shape []int
	// Dtype is the canonical descr: "<f4", "<f8", "<i4", "<i8" or "|u1".
	Dtype string

	F32 []float32
	F64 []float64
	I32 []int32
	I64 []int64
	U8  []uint8

	// FortranOrder reports that the elements are stored column-major
	// (first index fastest); [Array.COrder] converts.
	FortranOrder bool
}

// Data returns the slice that holds the elements, as a []float32,
// []float64, []int32, []int64 or []uint8 according to Dtype. It returns
// nil if Dtype is not one of those.
func (a Array) Data() any {
	switch a.Dtype {
	case "<f4":
		return a.F32
	case "<f8":
		return a.F64
	case "<i4":
		return a.I32
	case "<i8":
		return a.I64
	case "|u1":
		return a.U8
	}
	return nil
}

// Float64s returns a copy of the elements converted to float64, in
// storage order. int64 values beyond 2⁵³ are rounded.
func (a Array) Float64s() []float64 {
	switch a.Dtype {
	case "<f4":
		return convert(a.F32)
	case "<f8":
		return slices.Clone(a.F64)
	case "<i4":
		return convert(a.I32)
	case "<i8":
		return convert(a.I64)
	case "|u1":
		return convert(a.U8)
	}
	return nil
}

func convert[T elem](x []T) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// COrder returns a with its elements in C (row-major) order. If a is
// already in C order it is returned unchanged; otherwise the result holds
// new slices and a is not modified.
func (a Array) COrder() Array {
	if !a.FortranOrder {
		return a
	}
	b := a
	b.Shape = slices.Clone(a.Shape)
	b.FortranOrder = false
	n := 1
	for _, s := range a.Shape {
		n *= s
	}
	if len(a.Shape) <= 1 || n == 0 {
		return b // the two orders coincide
	}
	// src[i] is the Fortran-order position of the i-th element in C
	// order. The index runs like an odometer, last dimension fastest.
	src := make([]int, n)
	stride := make([]int, len(a.Shape))
	stride[0] = 1
	for k := 1; k < len(a.Shape); k++ {
		stride[k] = stride[k-1] * a.Shape[k-1]
	}
	idx := make([]int, len(a.Shape))
	off := 0
	for i := range n {
		src[i] = off
		for k := len(idx) - 1; k >= 0; k-- {
			idx[k]++
			off += stride[k]
			if idx[k] < a.Shape[k] {
				break
			}
			off -= idx[k] * stride[k]
			idx[k] = 0
		}
	}
	b.F32 = gather(a.F32, src)
	b.F64 = gather(a.F64, src)
	b.I32 = gather(a.I32, src)
	b.I64 = gather(a.I64, src)
	b.U8 = gather(a.U8, src)
	return b
}

func gather[T elem](x []T, src []int) []T {
	if x == nil {
		return nil
	}
	y := make([]T, len(src))
	for i, j := range src {
		y[i] = x[j]
	}
	return y
}

type elem interface {
	~float32 | ~float64 | ~int32 | ~int64 | ~uint8
}

// descrOf returns the descr of a supported data slice and its length.
func descrOf(data any) (string, int, error) {
	switch x := data.(type) {
	case []float32:
		return "<f4", len(x), nil
	case []float64:
		return "<f8", len(x), nil
	case []int32:
		return "<i4", len(x), nil
	case []int64:
		return "<i8", len(x), nil
	case []uint8:
		return "|u1", len(x), nil
	}
	return "", 0, fmt.Errorf("npy: data of type %T is not supported (want []float32, []float64, []int32, []int64 or []uint8)", data)
}

// Write writes data, in C order, as an array of the given shape (nil or
// empty for a 0-d array, which holds one element). data is a []float32,
// []float64, []int32, []int64 or []uint8, stored as '<f4', '<f8', '<i4',
// '<i8' or '|u1'. Write checks that len(data) matches the shape before it
// writes anything.
func Write(w io.Writer, shape []int, data any) error {
	descr, n, err := descrOf(data)
	if err != nil {
		return err
	}
	want, err := count(shape, itemSize[descr])
	if err != nil {
		return fmt.Errorf("npy: %v", err)
	}
	if n != want {
		return fmt.Errorf("npy: shape %s holds %d elements, data has %d", shapeText(shape), want, n)
	}
	h := header{descr: descr, shape: slices.Clone(shape)}
	if _, err := w.Write(h.encode(0)); err != nil {
		return err
	}
	return writeData(w, data)
}

// chunk is the size of the conversion buffers, in bytes.
const chunk = 1 << 16

func writeData(w io.Writer, data any) error {
	le := binary.LittleEndian
	switch x := data.(type) {
	case []float32:
		return writeElems(w, x, 4, func(b []byte, v float32) { le.PutUint32(b, math.Float32bits(v)) })
	case []float64:
		return writeElems(w, x, 8, func(b []byte, v float64) { le.PutUint64(b, math.Float64bits(v)) })
	case []int32:
		return writeElems(w, x, 4, func(b []byte, v int32) { le.PutUint32(b, uint32(v)) })
	case []int64:
		return writeElems(w, x, 8, func(b []byte, v int64) { le.PutUint64(b, uint64(v)) })
	case []uint8:
		_, err := w.Write(x)
		return err
	}
	panic("unreachable") // callers have checked the type with descrOf
}

func writeElems[T elem](w io.Writer, data []T, size int, put func([]byte, T)) error {
	buf := make([]byte, min(len(data)*size, chunk))
	for len(data) > 0 {
		k := min(len(data), len(buf)/size)
		for i, v := range data[:k] {
			put(buf[i*size:], v)
		}
		if _, err := w.Write(buf[:k*size]); err != nil {
			return err
		}
		data = data[k:]
	}
	return nil
}

// Read reads an array from r. It reads the header and exactly the data
// bytes the header's shape calls for; anything after them is left
// unread, as numpy.load ignores it. Errors wrap ErrMagic, ErrVersion,
// ErrHeader, ErrDtype or ErrData, or are the reader's own.
func Read(r io.Reader) (Array, error) {
	return read(r, -1)
}

// read reads an array from r; avail, when not negative, is the number of
// bytes r can deliver, which allows exact allocation.
func read(r io.Reader, avail int64) (Array, error) {
	h, off, err := readHeader(r)
	if err != nil {
		return Array{}, err
	}
	size := itemSize[h.descr]
	n, _ := count(h.shape, size) // checked by parseHeader
	need := int64(n) * int64(size)
	if avail >= 0 && avail-off < need {
		return Array{}, fmt.Errorf("%w: shape %s of %s needs %d data bytes, %d are present", ErrData, shapeText(h.shape), h.descr, need, max(0, avail-off))
	}
	exact := avail >= 0
	a := Array{Shape: h.shape, Dtype: h.descr, FortranOrder: h.fortran}
	le := binary.LittleEndian
	var got int64
	switch h.descr {
	case "<f4":
		a.F32, got, err = readElems(r, n, 4, exact, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case "<f8":
		a.F64, got, err = readElems(r, n, 8, exact, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	case "<i4":
		a.I32, got, err = readElems(r, n, 4, exact, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case "<i8":
		a.I64, got, err = readElems(r, n, 8, exact, func(b []byte) int64 { return int64(le.Uint64(b)) })
	case "|u1":
		a.U8, got, err = readElems(r, n, 1, exact, func(b []byte) uint8 { return b[0] })
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return Array{}, fmt.Errorf("%w: shape %s of %s needs %d data bytes, %d are present", ErrData, shapeText(h.shape), h.descr, need, got)
	}
	if err != nil {
		return Array{}, err
	}
	return a, nil
}

// readElems reads n elements of the given byte size. Unless exact, the
// result grows as data arrives, so that a header that promises more data
// than the input holds does not cause a large allocation. A short input
// gives io.ErrUnexpectedEOF and the number of bytes that were read.
func readElems[T elem](r io.Reader, n, size int, exact bool, get func([]byte) T) ([]T, int64, error) {
	c := n
	if !exact {
		c = min(n, chunk/size)
	}
	out := make([]T, 0, c)
	buf := make([]byte, min(n*size, chunk))
	for len(out) < n {
		k := min(n-len(out), len(buf)/size)
		b := buf[:k*size]
		m, err := io.ReadFull(r, b)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, int64(len(out)*size + m), err
		}
		for i := range k {
			out = append(out, get(b[i*size:]))
		}
	}
	return out, int64(n * size), nil
}

// ReadFile reads the array stored in the named file (see [Read]).
func ReadFile(path string) (Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return Array{}, err
	}
	defer f.Close()
	avail := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		avail = st.Size()
	}
	a, err := read(bufio.NewReaderSize(f, chunk), avail)
	if err != nil {
		return Array{}, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// WriteFile writes data as an array of the given shape (see [Write]) to
// the named file, atomically: the array goes to a temporary file in the
// same directory, which is synced to disk and then renamed over path, so
// that path holds either its old content or the complete new array. The
// file's mode is 0644.
func WriteFile(path string, shape []int, data any) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, chunk)
	if err := Write(bw, shape, data); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable. It is best effort: some file
// systems do not support syncing a directory, and the rename itself has
// already succeeded.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
