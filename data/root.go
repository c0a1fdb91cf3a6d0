package data

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The data root holds the data sets that do not come with lwca, one folder per data set, as
// torchvision's root does:
//
//	$LWCA_DATA/cifar10/         cifar-10-binary.tar.gz (lwca data get cifar10), its unpacked
//	                            cifar-10-batches-bin/, or the JPEG copy cifar10-jpeg.tar.gz
//	$LWCA_DATA/fashion-mnist/   the four IDX files (lwca data get fashion-mnist)
//	$LWCA_DATA/<name>/          anything else, named in a config as data.path: $LWCA_DATA/<name>
//
// LWCA_DATA defaults to <user cache directory>/lwca/data (~/.cache/lwca/data on Linux), so
// that configs name data sets, not machine-specific paths.
const (
	RootEnv = "LWCA_DATA"
	// RootPrefix at the start of a data path stands for the data root: "$LWCA_DATA/name".
	RootPrefix = "$" + RootEnv

	CIFAR10Folder      = "cifar10"
	FashionMNISTFolder = "fashion-mnist"
)

// Root returns the data root: $LWCA_DATA made absolute, else <user cache dir>/lwca/data. It
// need not exist.
func Root() (string, error) {
	if r := os.Getenv(RootEnv); r != "" {
		abs, err := filepath.Abs(r)
		if err != nil {
			return "", fmt.Errorf("data: %s=%q: %w", RootEnv, r, err)
		}
		return abs, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("data: no data root: %s is not set and there is no user cache directory (%v)", RootEnv, err)
	}
	return filepath.Join(cache, "lwca", "data"), nil
}

// RootFolder returns the folder of the data root that holds the named data set.
func RootFolder(name string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, name), nil
}

// rootNote says where the data root came from, for messages about what is missing in it.
func rootNote() string {
	if os.Getenv(RootEnv) != "" {
		return "data root from " + RootEnv
	}
	return "the default data root; " + RootEnv + " sets another"
}

// InRoot reports whether p is written relative to the data root, "$LWCA_DATA" or
// "$LWCA_DATA/rest", and returns rest ("" for the root itself).
func InRoot(p string) (rest string, ok bool) {
	rest, ok = strings.CutPrefix(p, RootPrefix)
	if !ok || (rest != "" && rest[0] != '/' && rest[0] != filepath.Separator) {
		return "", false // "$LWCA_DATAX" is another name
	}
	return strings.TrimLeft(rest, "/"+string(filepath.Separator)), true
}

// Locate returns the file or folder a data path names: p itself, or for a path in the data
// root ("$LWCA_DATA/name") that path under Root, which must then exist; the error for a
// missing one names the folder and matches fs.ErrNotExist.
func Locate(p string) (string, error) {
	rest, ok := InRoot(p)
	if !ok {
		return p, nil
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	full := filepath.Join(root, filepath.FromSlash(rest))
	if _, err := os.Stat(full); err != nil {
		if os.IsNotExist(err) {
			return "", missingf("data: %s: %s does not exist (%s)", p, full, rootNote())
		}
		return "", fmt.Errorf("data: %s: %w", p, err)
	}
	return full, nil
}

// missingError says that a data set is not where lwca looks for it, and how to get it. It
// matches fs.ErrNotExist, so callers (tests in particular) can tell it from damaged data.
type missingError struct{ msg string }

func (e *missingError) Error() string        { return e.msg }
func (e *missingError) Is(target error) bool { return target == fs.ErrNotExist }

func missingf(format string, args ...any) error {
	return &missingError{fmt.Sprintf(format, args...)}
}
