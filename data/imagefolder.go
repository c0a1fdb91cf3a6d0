package data

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// imagePixelLimit bounds the pixels of one image, checked on its header
// before decoding, so that a corrupt or hostile header cannot make the
// decoder allocate gigabytes. Tests lower it.
var imagePixelLimit = 1 << 26

// The split folders ImageFolder reads.
var imageSplits = [...]string{"train", "test"}

// ImageFolder loads a training and a test set of images stored one file
// per image, as
//
//	train/<class>/<image>
//	test/<class>/<image>
//
// path is a directory or a tar archive (gzip-compressed or not, read as
// a stream without unpacking). The two split folders may sit inside one
// enclosing folder, such as cifar10/train, which is detected. Images are
// JPEG or PNG files (.jpg, .jpeg, .png in any case; the format is told
// from the content). Hidden files and folders, other files, and images
// outside the split folders are ignored.
//
// Labels index the class folder names sorted in byte order; both splits
// must have the same classes, returned in ClassNames. Samples are in
// order of class, then file name. All images must have the same size.
// If all are grey, samples have shape [H W 1]; if any is in colour, the
// shape is [H W 3] (RGB, alpha dropped, grey images repeated across the
// channels). Pixels are scaled to [0, 1].
//
// Decoding runs on GOMAXPROCS goroutines; the result does not depend on
// their number.
func ImageFolder(path string) (train, test *Set, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: image folder: %w", err)
	}
	var tree imageTree
	if fi.IsDir() {
		tree, err = listImageDir(path)
	} else {
		tree, err = readImageArchive(path)
	}
	if err != nil {
		return nil, nil, err
	}
	return imageFolderSets(path, tree)
}

// imageFile is a candidate image: its slash-separated path relative to
// the directory or archive, the name errors give it, and its content
// (for a directory, read later).
type imageFile struct {
	rel  string
	name string
	data []byte
}

func isImageName(p string) bool {
	base := path.Base(p)
	if strings.HasPrefix(base, ".") {
		return false
	}
	switch strings.ToLower(path.Ext(base)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

func hiddenPath(rel string) bool {
	for part := range strings.SplitSeq(rel, "/") {
		if strings.HasPrefix(part, ".") {
			return true
		}
	}
	return false
}

// imageTree is what a directory or archive holds: its candidate images and
// its folders (slash-separated, relative), so that empty ones can be named.
type imageTree struct {
	files []imageFile
	dirs  []string
}

// listImageDir walks dir. Symbolic links that resolve inside dir are
// followed, files and folders alike; a link that leads out of dir, or
// back to a folder that contains it, is an error naming it.
func listImageDir(dir string) (imageTree, error) {
	var t imageTree
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return t, fmt.Errorf("data: image folder: %w", err)
	}
	if root, err = filepath.Abs(root); err != nil {
		return t, fmt.Errorf("data: image folder: %w", err)
	}
	err = t.walk(dir, root, root, ".", map[string]bool{root: true})
	return t, err
}

// walk lists the folder real (dir's rel, real its resolved path); open
// holds the resolved folders being walked, to catch link loops.
func (t *imageTree) walk(dir, root, real, rel string, open map[string]bool) error {
	entries, err := os.ReadDir(real)
	if err != nil {
		return fmt.Errorf("data: image folder: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // hidden
		}
		r := path.Join(rel, e.Name())
		name := filepath.Join(dir, filepath.FromSlash(r))
		target := filepath.Join(real, e.Name())
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			if target, err = filepath.EvalSymlinks(target); err != nil {
				return fmt.Errorf("data: %s: broken symbolic link: %w", name, err)
			}
			if in, err := filepath.Rel(root, target); err != nil || in == ".." || strings.HasPrefix(in, ".."+string(filepath.Separator)) {
				return fmt.Errorf("data: %s: symbolic link to %s, outside the image folder %s; links must stay inside it", name, target, dir)
			}
			fi, err := os.Stat(target)
			if err != nil {
				return fmt.Errorf("data: %w", err)
			}
			isDir = fi.IsDir()
		}
		switch {
		case isDir:
			if open[target] {
				return fmt.Errorf("data: %s: symbolic link to %s, a folder that contains it (a loop)", name, target)
			}
			t.dirs = append(t.dirs, r)
			open[target] = true
			err := t.walk(dir, root, target, r, open)
			delete(open, target)
			if err != nil {
				return err
			}
		case isImageName(r):
			t.files = append(t.files, imageFile{rel: r, name: name})
		}
	}
	return nil
}

func readImageArchive(name string) (imageTree, error) {
	a, err := openArchive(name)
	if err != nil {
		return imageTree{}, err
	}
	defer a.Close()
	return readImageEntries(a)
}

// readImageEntries reads the images of an archive. Links are not
// followed: a link entry that stands for an image or a folder of the
// layout is an error naming it.
func readImageEntries(a *archiveReader) (imageTree, error) {
	var t imageTree
	for {
		entry, size, err := a.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return t, err
		}
		if !isImageName(entry) || hiddenPath(entry) {
			continue
		}
		b, err := a.read(entry, size)
		if err != nil {
			return t, err
		}
		t.files = append(t.files, imageFile{rel: entry, name: a.name + ": " + entry, data: b})
	}
	if err := a.finish(); err != nil {
		return t, err
	}
	for _, l := range a.links {
		parts := strings.Split(l.name, "/")
		if !hiddenPath(l.name) && (isImageName(l.name) || slices.ContainsFunc(parts, func(p string) bool { return slices.Contains(imageSplits[:], p) })) {
			return t, fmt.Errorf("data: %s: %s is a link entry (to %s); links in archives are not followed, the archive must hold the files themselves",
				a.name, l.name, l.target)
		}
	}
	for _, d := range a.dirs {
		if !hiddenPath(d) {
			t.dirs = append(t.dirs, d)
		}
	}
	return t, nil
}

// sample is an image file placed in the layout.
type sample struct {
	*imageFile
	split int // index in imageSplits
	class string
	file  string // name within the class folder
}

// layoutSamples finds the folder holding train/ and test/ and returns
// the images under it, sorted by split, class and file name.
func layoutSamples(src string, files []imageFile) (samples []sample, prefix string, err error) {
	roots := map[string]bool{}
	for _, f := range files {
		parts := strings.Split(f.rel, "/")
		if k := len(parts) - 3; k >= 0 && slices.Contains(imageSplits[:], parts[k]) {
			roots[strings.Join(parts[:k], "/")] = true
		}
	}
	switch len(roots) {
	case 0:
		return nil, "", fmt.Errorf("data: %s: no images laid out as train/<class>/<image> and test/<class>/<image>", src)
	case 1:
	default:
		found := slices.Sorted(func(yield func(string) bool) {
			for r := range roots {
				if !yield(r + "/") {
					return
				}
			}
		})
		return nil, "", fmt.Errorf("data: %s: train/ and test/ folders at several places (%s), want one", src, strings.Join(found, ", "))
	}
	var root string
	for r := range roots {
		root = r
	}
	if root != "" {
		prefix = root + "/"
	}
	var out []sample
	for i := range files {
		f := &files[i]
		rest, ok := strings.CutPrefix(f.rel, prefix)
		if !ok {
			continue
		}
		parts := strings.Split(rest, "/")
		split := slices.Index(imageSplits[:], parts[0])
		if split < 0 {
			continue
		}
		if len(parts) != 3 {
			return nil, "", fmt.Errorf("data: %s: image outside a class folder, want %s%s/<class>/<image>", f.name, prefix, parts[0])
		}
		out = append(out, sample{imageFile: f, split: split, class: parts[1], file: parts[2]})
	}
	slices.SortFunc(out, func(a, b sample) int {
		return cmp.Or(cmp.Compare(a.split, b.split), strings.Compare(a.class, b.class), strings.Compare(a.file, b.file))
	})
	return out, prefix, nil
}

// splitClasses returns the sorted class names of one split.
func splitClasses(samples []sample, split int) []string {
	var names []string
	for _, s := range samples {
		if s.split == split && (len(names) == 0 || names[len(names)-1] != s.class) {
			names = append(names, s.class)
		}
	}
	return names
}

func imageFolderSets(src string, tree imageTree) (train, test *Set, err error) {
	samples, prefix, err := layoutSamples(src, tree.files)
	if err != nil {
		return nil, nil, err
	}
	// A class folder without images is a mistake (a failed copy, a link
	// not followed), not a class to drop quietly.
	for _, d := range tree.dirs {
		rest, ok := strings.CutPrefix(d, prefix)
		parts := strings.Split(rest, "/")
		if !ok || len(parts) != 2 || !slices.Contains(imageSplits[:], parts[0]) {
			continue
		}
		split := slices.Index(imageSplits[:], parts[0])
		if !slices.ContainsFunc(samples, func(s sample) bool { return s.split == split && s.class == parts[1] }) {
			return nil, nil, fmt.Errorf("data: %s: class folder %s holds no images (want .jpg, .jpeg or .png files)", src, d)
		}
	}
	trainClasses, testClasses := splitClasses(samples, 0), splitClasses(samples, 1)
	switch {
	case len(trainClasses) == 0:
		return nil, nil, fmt.Errorf("data: %s: no training images (want train/<class>/<image>)", src)
	case len(testClasses) == 0:
		return nil, nil, fmt.Errorf("data: %s: no test images (want test/<class>/<image>)", src)
	case !slices.Equal(trainClasses, testClasses):
		return nil, nil, fmt.Errorf("data: %s: train and test have different classes: %s", src, classDiff(trainClasses, testClasses))
	}

	// Read directory files now that the samples are known.
	if err := parallelFor(len(samples), func(i int) error {
		s := samples[i]
		if s.data != nil {
			return nil
		}
		b, err := os.ReadFile(s.name)
		if err != nil {
			return fmt.Errorf("data: %w", err)
		}
		s.data = b
		return nil
	}); err != nil {
		return nil, nil, err
	}

	// Headers first: sizes and colour decide the shape before decoding.
	type header struct {
		w, h int
		grey bool
	}
	heads := make([]header, len(samples))
	if err := parallelFor(len(samples), func(i int) error {
		w, h, grey, err := imageHeader(samples[i].data)
		if err != nil {
			return fmt.Errorf("data: %s: %v", samples[i].name, err)
		}
		if w <= 0 || h <= 0 || w > imagePixelLimit/h {
			return fmt.Errorf("data: %s: image is %dx%d, want between 1 and %d pixels", samples[i].name, w, h, imagePixelLimit)
		}
		heads[i] = header{w, h, grey}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	w, h, c := heads[0].w, heads[0].h, 1
	for i, hd := range heads {
		if hd.w != w || hd.h != h {
			return nil, nil, fmt.Errorf("data: %s: image is %dx%d (width x height), want %dx%d like %s: all images must have the same size",
				samples[i].name, hd.w, hd.h, w, h, samples[0].name)
		}
		if !hd.grey {
			c = 3
		}
	}

	base := setBaseName(src)
	nTrain := 0
	for _, s := range samples {
		if s.split == 0 {
			nTrain++
		}
	}
	mk := func(n int, split string) *Set {
		return &Set{
			X: make([]float32, n*h*w*c), Y: make([]int32, n),
			N: n, D: h * w * c, Classes: len(trainClasses), Shape: []int{h, w, c},
			Name: base + "/" + split, ClassNames: slices.Clone(trainClasses),
		}
	}
	train, test = mk(nTrain, "train"), mk(len(samples)-nTrain, "test")
	scale := byteScale()
	err = parallelFor(len(samples), func(i int) error {
		s := samples[i]
		set, row := train, i
		if i >= nTrain {
			set, row = test, i-nTrain
		}
		label, _ := slices.BinarySearch(trainClasses, s.class)
		set.Y[row] = int32(label)
		img, err := decodeImage(s.data)
		if err != nil {
			return fmt.Errorf("data: %s: %v", s.name, err)
		}
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			return fmt.Errorf("data: %s: decoded image is %dx%d, its header says %dx%d", s.name, b.Dx(), b.Dy(), w, h)
		}
		fillHWC(set.Row(row), img, c, scale)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// classDiff describes how two sorted class lists differ.
func classDiff(train, test []string) string {
	var onlyTrain, onlyTest []string
	for _, c := range train {
		if _, ok := slices.BinarySearch(test, c); !ok {
			onlyTrain = append(onlyTrain, c)
		}
	}
	for _, c := range test {
		if _, ok := slices.BinarySearch(train, c); !ok {
			onlyTest = append(onlyTest, c)
		}
	}
	var parts []string
	if len(onlyTrain) > 0 {
		parts = append(parts, fmt.Sprintf("only in train: %s", strings.Join(onlyTrain, ", ")))
	}
	if len(onlyTest) > 0 {
		parts = append(parts, fmt.Sprintf("only in test: %s", strings.Join(onlyTest, ", ")))
	}
	return strings.Join(parts, "; ")
}

// setBaseName is the name of a directory or archive without archive
// extensions.
func setBaseName(p string) string {
	b := filepath.Base(filepath.Clean(p))
	for _, ext := range []string{".gz", ".tgz", ".tar"} {
		if len(b) > len(ext) && strings.EqualFold(b[len(b)-len(ext):], ext) {
			b = b[:len(b)-len(ext)]
		}
	}
	return b
}

var (
	jpegMagic = []byte{0xff, 0xd8}
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
)

// imageHeader returns the size of the JPEG or PNG image b and whether it
// is grey. It reads the header itself, without allocating, and leaves
// what it does not know (PNG palettes, unusual JPEG markers) to the
// library's DecodeConfig.
func imageHeader(b []byte) (w, h int, grey bool, err error) {
	if w, h, grey, ok := peekHeader(b); ok {
		return w, h, grey, nil
	}
	var cfg image.Config
	switch {
	case bytes.HasPrefix(b, jpegMagic):
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(b))
	case bytes.HasPrefix(b, pngMagic):
		cfg, err = png.DecodeConfig(bytes.NewReader(b))
	default:
		err = fmt.Errorf("not a JPEG or PNG image (starts with % x)", b[:min(len(b), 8)])
	}
	if err != nil {
		return 0, 0, false, truncated(b, err)
	}
	return cfg.Width, cfg.Height, isGreyModel(cfg.ColorModel), nil
}

// peekHeader reads the PNG IHDR chunk or the JPEG frame header.
func peekHeader(b []byte) (w, h int, grey, ok bool) {
	be16 := func(p []byte) int { return int(p[0])<<8 | int(p[1]) }
	be32 := func(p []byte) int { return int(p[0])<<24 | int(p[1])<<16 | int(p[2])<<8 | int(p[3]) }
	if bytes.HasPrefix(b, pngMagic) {
		// Signature, chunk length 13, "IHDR", width, height, depth, colour type.
		if len(b) < 26 || be32(b[8:]) != 13 || string(b[12:16]) != "IHDR" {
			return 0, 0, false, false
		}
		switch b[25] {
		case 0, 4: // grey, grey with alpha
			grey = true
		case 2, 6: // RGB, RGB with alpha
		default: // palette: its colours decide
			return 0, 0, false, false
		}
		return be32(b[16:]), be32(b[20:]), grey, true
	}
	if !bytes.HasPrefix(b, jpegMagic) {
		return 0, 0, false, false
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			return 0, 0, false, false
		}
		m := b[i+1]
		switch {
		case m == 0xff: // fill byte
			i++
			continue
		case 0xd0 <= m && m <= 0xd7: // restart markers have no segment
			i += 2
			continue
		case m < 0xc0 || m == 0xd8 || m == 0xd9 || m == 0xda:
			// Stray bytes, a second start, or the end or a scan before any
			// frame: the decoder says what is wrong.
			return 0, 0, false, false
		}
		n := be16(b[i+2:])
		if n < 2 {
			return 0, 0, false, false
		}
		if 0xc0 <= m && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc {
			// Frame header: length, precision, height, width, components.
			if n < 8 || i+10 > len(b) {
				return 0, 0, false, false
			}
			return be16(b[i+7:]), be16(b[i+5:]), b[i+9] == 1, true
		}
		i += 2 + n
	}
	return 0, 0, false, false
}

func decodeImage(b []byte) (image.Image, error) {
	var img image.Image
	var err error
	switch {
	case bytes.HasPrefix(b, jpegMagic):
		img, err = jpeg.Decode(bytes.NewReader(b))
	case bytes.HasPrefix(b, pngMagic):
		img, err = png.Decode(bytes.NewReader(b))
	default:
		return nil, fmt.Errorf("not a JPEG or PNG image (starts with % x)", b[:min(len(b), 8)])
	}
	return img, truncated(b, err)
}

// truncated says what the decoders' "unexpected EOF" means: the file ends
// before the image does.
func truncated(b []byte, err error) error {
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	kind := "PNG"
	if bytes.HasPrefix(b, jpegMagic) {
		kind = "JPEG"
	}
	return fmt.Errorf("truncated %s: the file (%d bytes) ends before the image data does", kind, len(b))
}

// isGreyModel reports whether images of model m have one channel: grey
// models, and palettes of grey colours only.
func isGreyModel(m color.Model) bool {
	switch m {
	case color.GrayModel, color.Gray16Model:
		return true
	}
	p, ok := m.(color.Palette)
	if !ok {
		return false
	}
	for _, c := range p {
		r, g, b, _ := c.RGBA()
		if r != g || g != b {
			return false
		}
	}
	return true
}

// fillHWC writes img into dst as rows of pixels of c channels (1: grey,
// 3: RGB), scaled to [0, 1]. Alpha is dropped: colours are taken
// unpremultiplied.
func fillHWC(dst []float32, img image.Image, c int, scale *[256]float32) {
	b := img.Bounds()
	w := b.Dx()
	switch m := img.(type) {
	case *image.Gray:
		for y := range b.Dy() {
			src := m.Pix[y*m.Stride : y*m.Stride+w]
			out := dst[y*w*c : (y+1)*w*c]
			for x, v := range src {
				for k := range c {
					out[x*c+k] = scale[v]
				}
			}
		}
		return
	case *image.YCbCr:
		if c == 3 {
			for y := range b.Dy() {
				out := dst[y*w*3 : (y+1)*w*3]
				for x := range w {
					yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
					ci := m.COffset(b.Min.X+x, b.Min.Y+y)
					r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
					out[3*x], out[3*x+1], out[3*x+2] = scale[r], scale[g], scale[bl]
				}
			}
			return
		}
	case *image.NRGBA:
		if c == 3 {
			for y := range b.Dy() {
				src := m.Pix[y*m.Stride : y*m.Stride+4*w]
				out := dst[y*w*3 : (y+1)*w*3]
				for x := range w {
					out[3*x], out[3*x+1], out[3*x+2] = scale[src[4*x]], scale[src[4*x+1]], scale[src[4*x+2]]
				}
			}
			return
		}
	case *image.RGBA:
		if c == 3 {
			for y := range b.Dy() {
				src := m.Pix[y*m.Stride : y*m.Stride+4*w]
				out := dst[y*w*3 : (y+1)*w*3]
				for x := range w {
					p := src[4*x : 4*x+4]
					if p[3] != 0xff {
						// Translucent: undo the premultiplication.
						n := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
						out[3*x], out[3*x+1], out[3*x+2] = scale[n.R], scale[n.G], scale[n.B]
						continue
					}
					out[3*x], out[3*x+1], out[3*x+2] = scale[p[0]], scale[p[1]], scale[p[2]]
				}
			}
			return
		}
	}
	// Anything else (16-bit, paletted, CMYK) through the colour models.
	const max16 = 0xffff
	for y := range b.Dy() {
		for x := range w {
			out := dst[(y*w+x)*c : (y*w+x+1)*c]
			// Unpremultiplied, so that translucent pixels keep their colour;
			// a one-channel set holds grey images, whose R, G and B agree.
			n := color.NRGBA64Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
			out[0] = float32(n.R) / max16
			if c == 3 {
				out[1], out[2] = float32(n.G)/max16, float32(n.B)/max16
			}
		}
	}
}

// parallelFor calls fn(i) for i in [0, n) on GOMAXPROCS goroutines and
// returns the error of the smallest i that failed, so that the error
// does not depend on scheduling. Indices above a known failure are
// skipped.
func parallelFor(n int, fn func(i int) error) error {
	const chunk = 64
	var (
		next    atomic.Int64
		firstAt atomic.Int64
		mu      sync.Mutex
		first   error
		wg      sync.WaitGroup
	)
	firstAt.Store(int64(n))
	workers := min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk)
	for range workers {
		wg.Go(func() {
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n || int64(lo) > firstAt.Load() {
					return
				}
				for i := lo; i < min(lo+chunk, n); i++ {
					if int64(i) > firstAt.Load() {
						return
					}
					if err := fn(i); err != nil {
						mu.Lock()
						if int64(i) < firstAt.Load() {
							firstAt.Store(int64(i))
							first = err
						}
						mu.Unlock()
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return first
}
