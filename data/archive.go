package data

import (
	"archive/tar"
	"bufio"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// archiveReader reads the entries of a tar archive, gzip-compressed or
// not, straight from its stream. Compression is recognised by the gzip
// magic bytes; a file named .gz or .tgz must have them.
type archiveReader struct {
	name string // file name, for errors
	f    *os.File
	zr   *gzip.Reader
	tr   *tar.Reader
	gz   bool

	// The entries next skipped that callers may need to explain what is missing:
	// links (archives' links are never followed, so that every file read is one
	// the archive holds) and folders (which may be empty).
	links []archiveLink
	dirs  []string
}

// archiveLink is a symbolic or hard link entry.
type archiveLink struct {
	name, target string
}

func openArchive(name string) (*archiveReader, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	a, err := newArchiveReader(f, name)
	if err != nil {
		f.Close()
		return nil, err
	}
	a.f = f
	return a, nil
}

func newArchiveReader(r io.Reader, name string) (*archiveReader, error) {
	a := &archiveReader{name: name}
	br := bufio.NewReaderSize(r, 1<<16)
	magic, _ := br.Peek(2)
	switch {
	case len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("data: %s: corrupt gzip header: %v", name, err)
		}
		a.zr, a.gz = zr, true
		a.tr = tar.NewReader(zr)
	case hasGzipName(name):
		return nil, fmt.Errorf("data: %s: not a gzip stream (starts with % x, want 1f 8b)", name, magic)
	default:
		a.tr = tar.NewReader(br)
	}
	return a, nil
}

func hasGzipName(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, ".gz") || strings.HasSuffix(n, ".tgz")
}

// next returns the cleaned, slash-separated name of the next regular
// file, or io.EOF after the last one. Other entries are skipped; links and
// folders are recorded in a.links and a.dirs.
func (a *archiveReader) next() (string, int64, error) {
	for {
		h, err := a.tr.Next()
		if err == io.EOF {
			return "", 0, io.EOF
		}
		if err != nil {
			return "", 0, a.wrap("reading the tar index", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			return name, h.Size, nil
		case tar.TypeSymlink, tar.TypeLink:
			a.links = append(a.links, archiveLink{name, h.Linkname})
		case tar.TypeDir:
			a.dirs = append(a.dirs, name)
		}
	}
}

// read returns the content of the current entry.
func (a *archiveReader) read(entry string, size int64) ([]byte, error) {
	b, err := readAtMost(a.tr, size)
	if err != nil {
		return nil, a.wrap("reading "+entry, err)
	}
	return b, nil
}

// wrap names the archive, the step and, for a damaged stream, what was
// expected.
func (a *archiveReader) wrap(what string, err error) error {
	var corrupt flate.CorruptInputError
	if a.gz && !errors.As(err, &corrupt) && !errors.Is(err, gzip.ErrChecksum) && !errors.Is(err, gzip.ErrHeader) {
		// A damaged deflate stream often decodes to junk before the
		// decompressor notices; what it says then is the better diagnosis.
		if _, zerr := io.Copy(io.Discard, a.zr); zerr != nil {
			err = zerr
		}
	}
	kind := "tar"
	if a.gz {
		kind = "tar.gz"
	}
	switch {
	case errors.As(err, &corrupt):
		return fmt.Errorf("data: %s: %s: corrupt gzip stream: %v", a.name, what, err)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return fmt.Errorf("data: %s: %s: truncated %s archive", a.name, what, kind)
	case errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader):
		return fmt.Errorf("data: %s: %s: corrupt gzip stream: %v", a.name, what, err)
	case errors.Is(err, tar.ErrHeader):
		return fmt.Errorf("data: %s: %s: corrupt tar header (want a %s archive)", a.name, what, kind)
	}
	return fmt.Errorf("data: %s: %s (%s archive): %w", a.name, what, kind, err)
}

// finish reads to the end of the stream so that gzip verifies its
// checksum even when the caller stopped early.
func (a *archiveReader) finish() error {
	for {
		if _, _, err := a.next(); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
	}
	if a.zr != nil {
		if _, err := io.Copy(io.Discard, a.zr); err != nil {
			return a.wrap("reading to the end of the stream", err)
		}
	}
	return nil
}

func (a *archiveReader) Close() error {
	if a.zr != nil {
		a.zr.Close()
	}
	if a.f != nil {
		return a.f.Close()
	}
	return nil
}
