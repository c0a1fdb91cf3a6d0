package data

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// The CIFAR-10 binary distribution.
const (
	// CIFAR10Archive is the file name of the binary distribution,
	// https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz.
	CIFAR10Archive = "cifar-10-binary.tar.gz"
	// CIFAR10MD5 is the published MD5 checksum of CIFAR10Archive.
	CIFAR10MD5 = "c32a1d4ab5d03f1284b67883e8d87530"

	cifar10Subdir = "cifar-10-batches-bin" // the folder inside the archive
	cifarSide     = 32
	cifarPixels   = cifarSide * cifarSide * 3
	cifarRecord   = 1 + cifarPixels // a label byte, then R, G and B planes
)

// cifar10Files lists the batch files: five training batches, then the
// test batch.
var cifar10Files = [...]string{
	"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin",
	"test_batch.bin",
}

// CIFAR10Classes returns the names of the CIFAR-10 classes in label
// order.
func CIFAR10Classes() []string {
	return []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
}

// CIFAR10JPEGArchive is the file name of a JPEG copy of CIFAR-10 in image-folder layout
// (train/<class>/*.jpg, test/<class>/*.jpg), which CIFAR10 also reads from a directory, for
// machines that cannot download the binary distribution. JPEG is lossy: results on it are
// close to, not identical with, those on the binary set.
const CIFAR10JPEGArchive = "cifar10-jpeg.tar.gz"

// cifar10JPEGDir is the unpacked form of CIFAR10JPEGArchive.
const cifar10JPEGDir = "cifar10-jpeg"

// CIFAR10 loads the CIFAR-10 training (50000) and test (10000) sets. path
// is either the archive cifar-10-binary.tar.gz itself, read as a stream
// without unpacking, or a directory holding, in order of preference,
// data_batch_1.bin … data_batch_5.bin and test_batch.bin (directly or in
// a cifar-10-batches-bin folder), cifar-10-binary.tar.gz, or the JPEG
// copy (cifar10-jpeg.tar.gz or a cifar10-jpeg folder). See
// DefaultCIFAR10Dir.
//
// Pixels are scaled to [0, 1] and samples have shape [32 32 3], channels
// last: the R, G and B planes of a record are interleaved. The sets are
// named cifar10/train and cifar10/test, or cifar10-jpeg/… for the copy.
func CIFAR10(path string) (train, test *Set, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: CIFAR-10: %w", err)
	}
	var files []rawFile
	if !fi.IsDir() {
		files, err = readCIFAR10Archive(path)
	} else {
		switch src, form := cifar10Source(path); form {
		case cifarNone:
			return nil, nil, missingf("data: CIFAR-10: %s holds neither %s nor %s/ nor %s nor %s (fetch it with `lwca data get cifar10 --dir %s`)",
				path, cifar10Files[0], cifar10Subdir, CIFAR10Archive, CIFAR10JPEGArchive, path)
		case cifarBatches:
			files, err = readCIFAR10Batches(src)
		case cifarBinary:
			files, err = readCIFAR10Archive(src)
		case cifarJPEG:
			return cifar10JPEG(src)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	train, err = cifar10Set(files[:5], "cifar10/train")
	if err != nil {
		return nil, nil, err
	}
	test, err = cifar10Set(files[5:], "cifar10/test")
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// DefaultCIFAR10Dir returns the cifar10 folder of the data root (see Root)
// if it holds CIFAR-10 in a form CIFAR10 reads; otherwise the error names
// the folder and the command that fetches the data, and matches
// fs.ErrNotExist.
func DefaultCIFAR10Dir() (string, error) {
	dir, err := RootFolder(CIFAR10Folder)
	if err != nil {
		return "", err
	}
	if _, form := cifar10Source(dir); form == cifarNone {
		return "", missingf("data: CIFAR-10 not found in %s (%s); fetch it with: lwca data get cifar10 (or put %s or %s there)",
			dir, rootNote(), CIFAR10Archive, CIFAR10JPEGArchive)
	}
	return dir, nil
}

// The forms of CIFAR-10 a directory can hold.
type cifarForm int

const (
	cifarNone    cifarForm = iota
	cifarBatches           // a folder of the batch files
	cifarBinary            // cifar-10-binary.tar.gz
	cifarJPEG              // the JPEG copy, archive or folder
)

// cifar10Source returns what CIFAR10 reads in dir, in CIFAR10's order of
// preference, and its form.
func cifar10Source(dir string) (string, cifarForm) {
	for _, d := range []string{dir, filepath.Join(dir, cifar10Subdir)} {
		if isFile(filepath.Join(d, cifar10Files[0])) {
			return d, cifarBatches
		}
	}
	if a := filepath.Join(dir, CIFAR10Archive); isFile(a) {
		return a, cifarBinary
	}
	if a := filepath.Join(dir, CIFAR10JPEGArchive); isFile(a) {
		return a, cifarJPEG
	}
	if d := filepath.Join(dir, cifar10JPEGDir); isDir(d) {
		return d, cifarJPEG
	}
	return "", cifarNone
}

// cifar10JPEG loads the JPEG copy and checks that it is CIFAR-10, so that
// another image folder under that name is refused rather than trained on.
func cifar10JPEG(src string) (train, test *Set, err error) {
	train, test, err = ImageFolder(src)
	if err != nil {
		return nil, nil, err
	}
	if want := CIFAR10Classes(); !slices.Equal(train.ClassNames, want) {
		return nil, nil, fmt.Errorf("data: %s: not the CIFAR-10 JPEG copy: class folders %v, want %v", src, train.ClassNames, want)
	}
	if !slices.Equal(train.Shape, []int{cifarSide, cifarSide, 3}) {
		return nil, nil, fmt.Errorf("data: %s: not the CIFAR-10 JPEG copy: images of shape %v, want [32 32 3]", src, train.Shape)
	}
	return train, test, nil
}

// rawFile is the content of one file and the name errors give it.
type rawFile struct {
	name string
	data []byte
}

// readCIFAR10Batches reads the six batch files from dir, which holds the first.
func readCIFAR10Batches(dir string) ([]rawFile, error) {
	files := make([]rawFile, len(cifar10Files))
	for i, base := range cifar10Files {
		p := filepath.Join(dir, base)
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("data: CIFAR-10: %s has %s but no %s (want data_batch_1.bin … data_batch_5.bin and test_batch.bin)",
				dir, cifar10Files[0], base)
		}
		if err := checkCIFARSize(p, fi.Size()); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		files[i] = rawFile{p, b}
	}
	return files, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func checkCIFARSize(name string, size int64) error {
	switch {
	case size == 0:
		return fmt.Errorf("data: %s: empty file, want records of %d bytes (1 label byte + %d pixel bytes)", name, cifarRecord, cifarPixels)
	case size%cifarRecord != 0:
		return fmt.Errorf("data: %s: %d bytes is not a whole number of %d-byte records (1 label byte + %d pixel bytes); %d bytes left over",
			name, size, cifarRecord, cifarPixels, size%cifarRecord)
	}
	return nil
}

// readCIFAR10Archive picks the six batch files out of a tar or tar.gz
// archive, wherever they sit in it.
func readCIFAR10Archive(name string) ([]rawFile, error) {
	a, err := openArchive(name)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	files := make([]rawFile, len(cifar10Files))
	for {
		entry, size, err := a.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		i := slices.Index(cifar10Files[:], path.Base(entry))
		if i < 0 {
			continue
		}
		full := name + ": " + entry
		if files[i].name != "" {
			return nil, fmt.Errorf("data: %s: %s appears twice, as %s and %s", name, cifar10Files[i],
				strings.TrimPrefix(files[i].name, name+": "), entry)
		}
		if err := checkCIFARSize(full, size); err != nil {
			return nil, err
		}
		b, err := a.read(entry, size)
		if err != nil {
			return nil, err
		}
		files[i] = rawFile{full, b}
	}
	if err := a.finish(); err != nil {
		return nil, err
	}
	for i, f := range files {
		if f.name == "" {
			for _, l := range a.links {
				if path.Base(l.name) == cifar10Files[i] {
					return nil, fmt.Errorf("data: %s: %s is a link entry (to %s); links in archives are not followed, the archive must hold the file itself",
						name, l.name, l.target)
				}
			}
			return nil, fmt.Errorf("data: %s: archive holds no %s (want data_batch_1.bin … data_batch_5.bin and test_batch.bin, usually under %s/)",
				name, cifar10Files[i], cifar10Subdir)
		}
	}
	return files, nil
}

// cifar10Set decodes and concatenates batch files.
func cifar10Set(files []rawFile, name string) (*Set, error) {
	n := 0
	for _, f := range files {
		if err := checkCIFARSize(f.name, int64(len(f.data))); err != nil {
			return nil, err
		}
		n += len(f.data) / cifarRecord
	}
	s := &Set{
		X:          make([]float32, n*cifarPixels),
		Y:          make([]int32, n),
		N:          n,
		D:          cifarPixels,
		Classes:    10,
		Shape:      []int{cifarSide, cifarSide, 3},
		Name:       name,
		ClassNames: CIFAR10Classes(),
	}
	at := 0
	for i := range files {
		f := &files[i]
		m := len(f.data) / cifarRecord
		if err := decodeCIFAR(f.name, f.data, s.X[at*cifarPixels:(at+m)*cifarPixels], s.Y[at:at+m]); err != nil {
			return nil, err
		}
		f.data = nil // let the collector have it while the next file is decoded
		at += m
	}
	return s, nil
}

// decodeCIFAR decodes whole records of b into x (HWC, scaled to [0, 1])
// and y. The caller checks that len(b) is a multiple of the record size.
func decodeCIFAR(name string, b []byte, x []float32, y []int32) error {
	scale := byteScale()
	const plane = cifarSide * cifarSide
	for r := range len(b) / cifarRecord {
		rec := b[r*cifarRecord : (r+1)*cifarRecord]
		if rec[0] > 9 {
			return fmt.Errorf("data: %s: record %d (byte offset %d): label %d, want 0 to 9", name, r, r*cifarRecord, rec[0])
		}
		y[r] = int32(rec[0])
		red, green, blue := rec[1:1+plane], rec[1+plane:1+2*plane], rec[1+2*plane:1+3*plane]
		row := x[r*cifarPixels : (r+1)*cifarPixels]
		for p := range plane {
			row[3*p] = scale[red[p]]
			row[3*p+1] = scale[green[p]]
			row[3*p+2] = scale[blue[p]]
		}
	}
	return nil
}

// byteScale returns the table v ↦ v/255.
func byteScale() *[256]float32 {
	var t [256]float32
	for i := range t {
		t[i] = float32(i) / 255
	}
	return &t
}
