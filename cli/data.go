package cli

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/lwca/lwca/data"
)

// dataUsage is the usage line of the data command.
const dataUsage = `  lwca data get cifar10|fashion-mnist [--dir DIR] [--url URL]
`

const dataHelp = `data get NAME downloads a data set into its folder of the data root, $` + data.RootEnv + `/NAME
(default: <user cache dir>/lwca/data, ~/.cache/lwca/data on Linux), where configs that name
the data set find it, or into --dir DIR. Every file is checked against its published MD5 and
kept only if it matches; a valid copy already there is not fetched again.
  cifar10        cifar-10-binary.tar.gz, the CIFAR-10 binary archive (about 170 MB)
  fashion-mnist  the four Fashion-MNIST IDX files (about 30 MB)
--url, or the environment variable LWCA_CIFAR10_URL / LWCA_FASHION_MNIST_URL, names another
source, such as a local mirror: the archive's URL for cifar10, the URL of the folder holding
the four files for fashion-mnist.
`

// remoteFile is one file of a data set's distribution and its published MD5.
type remoteFile struct{ name, md5 string }

// remoteSet is a data set that data get downloads.
type remoteSet struct {
	folder string // in the data root, where the loaders look
	url    string // one file: its URL; several: the folder holding them
	env    string // overrides url when --url is not given
	files  []remoteFile
}

// remoteSets are the data sets data get knows; variables so that tests can serve their own.
var remoteSets = map[string]*remoteSet{
	"cifar10": {folder: data.CIFAR10Folder, url: "https://www.cs.toronto.edu/~kriz/" + data.CIFAR10Archive,
		env: "LWCA_CIFAR10_URL", files: []remoteFile{{data.CIFAR10Archive, data.CIFAR10MD5}}},
	// The MD5s are those the Fashion-MNIST authors publish with the files.
	"fashion-mnist": {folder: data.FashionMNISTFolder, url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
		env: "LWCA_FASHION_MNIST_URL", files: []remoteFile{
			{"train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
			{"train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"},
			{"t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"},
			{"t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"},
		}},
}

// fileURL is where f comes from when the set's source is src.
func (s *remoteSet) fileURL(src string, f remoteFile) string {
	if len(s.files) == 1 {
		return src
	}
	return strings.TrimSuffix(src, "/") + "/" + f.name
}

func cmdData(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, []string{"dir", "url"}, nil)
	if err != nil {
		return err
	}
	known := strings.Join(slices.Sorted(maps.Keys(remoteSets)), ", ")
	p := f.positional
	switch {
	case len(p) == 0 || p[0] != "get":
		return usageError{"data: want `data get NAME [--dir DIR]`\n\n" + dataHelp}
	case len(p) != 2:
		return usageError{"data get takes one data set name: " + known}
	}
	name := p[1]
	set, ok := remoteSets[name]
	if !ok {
		return usageError{fmt.Sprintf("data get: unknown data set %q; known: %s", name, known)}
	}
	rootDir, err := data.RootFolder(set.folder)
	dir := f.last("dir")
	if dir == "" {
		if err != nil {
			return fmt.Errorf("%w; or pass --dir DIR", err)
		}
		dir = rootDir
	}
	src := cmp.Or(f.last("url"), os.Getenv(set.env), set.url)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, file := range set.files {
		dest, fetched, err := fetchVerified(ctx, set.fileURL(src, file), dir, file.name, file.md5, stderr)
		if err != nil {
			return err
		}
		if fetched {
			fmt.Fprintf(stdout, "%s: downloaded %s (MD5 %s)\n", name, dest, file.md5)
		} else {
			fmt.Fprintf(stdout, "%s: %s already present (MD5 %s)\n", name, dest, file.md5)
		}
	}
	if abs, _ := filepath.Abs(dir); abs != rootDir {
		fmt.Fprintf(stdout, "%s: %s is not the data root's %s folder; use it with --set data.path=%s\n", name, dir, set.folder, dir)
	}
	return nil
}

// fileMD5 returns the hexadecimal MD5 of the file at path.
func fileMD5(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fetchVerified makes dir/name a copy of url whose MD5 is wantMD5. A
// valid file already there is kept (fetched is false). The download goes
// to a temporary file in dir, renamed into place only once its checksum
// matches, so dir never holds a partial or wrong dir/name.
func fetchVerified(ctx context.Context, url, dir, name, wantMD5 string, progress io.Writer) (dest string, fetched bool, err error) {
	dest = filepath.Join(dir, name)
	switch sum, err := fileMD5(dest); {
	case err == nil && sum == wantMD5:
		return dest, false, nil
	case err == nil:
		fmt.Fprintf(progress, "lwca: %s has MD5 %s, want %s; downloading it again\n", dest, sum, wantMD5)
	case !errors.Is(err, os.ErrNotExist):
		return "", false, fmt.Errorf("checking %s: %w", dest, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", false, fmt.Errorf("download URL %q: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false, fmt.Errorf("downloading %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("downloading %s from %s: server answered %s", name, url, resp.Status)
	}

	tmp, err := os.CreateTemp(dir, "."+name+".*.part")
	if err != nil {
		return "", false, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	fmt.Fprintf(progress, "lwca: downloading %s from %s\n", name, url)
	h := md5.New()
	pw := &progressWriter{w: progress, name: name, total: resp.ContentLength}
	if _, err = io.Copy(io.MultiWriter(tmp, h, pw), resp.Body); err != nil {
		return "", false, fmt.Errorf("downloading %s from %s after %d bytes: %w", name, url, pw.n, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != wantMD5 {
		err = fmt.Errorf("downloaded %s from %s (%d bytes) has MD5 %s, want %s: damaged or not the expected file, so it was deleted",
			name, url, pw.n, sum, wantMD5)
		return "", false, err
	}
	if err = tmp.Sync(); err != nil {
		return "", false, err
	}
	if err = tmp.Close(); err != nil {
		return "", false, err
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", false, err
	}
	if err = os.Rename(tmp.Name(), dest); err != nil {
		return "", false, err
	}
	return dest, true, nil
}

// progressWriter counts bytes and reports every tenth of the total, or
// every 16 MB when the total is unknown.
type progressWriter struct {
	w     io.Writer
	name  string
	total int64
	n     int64
	next  int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	step := p.total / 10
	if step <= 0 {
		step = 16 << 20
	}
	if p.next == 0 {
		p.next = step
	}
	if p.n >= p.next {
		if p.total > 0 {
			fmt.Fprintf(p.w, "lwca: %s: %.1f of %.1f MB\n", p.name, float64(p.n)/1e6, float64(p.total)/1e6)
		} else {
			fmt.Fprintf(p.w, "lwca: %s: %.1f MB\n", p.name, float64(p.n)/1e6)
		}
		for p.next <= p.n {
			p.next += step
		}
	}
	return len(b), nil
}
