package cli

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/lwca/lwca/data"
)

// dataUsage is the usage line of the data command.
const dataUsage = `  lwca data get cifar10 --dir DIR [--url URL]
`

const dataHelp = `data get cifar10 downloads the CIFAR-10 binary archive, cifar-10-binary.tar.gz
(about 170 MB), into DIR, checks its MD5 checksum and keeps it only if it matches. A valid
copy already in DIR is not fetched again. --url, or the environment variable
` + cifar10URLEnv + `, names another source, such as a local mirror.
`

// The source of CIFAR-10; variables so that tests can serve a small
// archive of their own.
var (
	cifar10URL = "https://www.cs.toronto.edu/~kriz/" + data.CIFAR10Archive
	cifar10MD5 = data.CIFAR10MD5
)

// cifar10URLEnv overrides cifar10URL when --url is not given.
const cifar10URLEnv = "LWCA_CIFAR10_URL"

func cmdData(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, []string{"dir", "url"}, nil)
	if err != nil {
		return err
	}
	switch p := f.positional; {
	case len(p) == 0 || p[0] != "get":
		return usageError{"data: want `data get cifar10 --dir DIR`\n\n" + dataHelp}
	case len(p) != 2:
		return usageError{"data get takes one data set name: cifar10"}
	case p[1] != "cifar10":
		return usageError{fmt.Sprintf("data get: unknown data set %q; known: cifar10", p[1])}
	}
	dir := f.last("dir")
	if dir == "" {
		return usageError{"data get cifar10 needs --dir DIR"}
	}
	url := f.last("url")
	if url == "" {
		url = os.Getenv(cifar10URLEnv)
	}
	if url == "" {
		url = cifar10URL
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dest, fetched, err := fetchVerified(ctx, url, dir, data.CIFAR10Archive, cifar10MD5, stderr)
	if err != nil {
		return err
	}
	if fetched {
		fmt.Fprintf(stdout, "cifar10: downloaded %s (MD5 %s)\n", dest, cifar10MD5)
	} else {
		fmt.Fprintf(stdout, "cifar10: %s already present (MD5 %s)\n", dest, cifar10MD5)
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
