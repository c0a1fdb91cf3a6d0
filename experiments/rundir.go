package experiments

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lwca/lwca/rundir"
)

// LockFile is the advisory lock of a run (or analysis) directory; it holds the PID of the
// process that holds the lock.
const LockFile = ".lwca.lock"

// DirLock is an exclusive flock on a directory's LockFile, held until Release.
type DirLock struct{ f *os.File }

// LockDir takes the lock of dir, which must exist. If another process (or another open in
// this one) holds it, the error names that process's PID. The kernel drops the lock when the
// process ends, however it ends.
func LockDir(dir string) (*DirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := "another process"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b[:n]))); perr == nil {
				holder = fmt.Sprintf("process %d", pid)
			}
			return nil, fmt.Errorf("%s is in use by lwca %s (lock %s); wait for it to finish or stop it first", dir, holder, path)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DirLock{f}, nil
}

// Release drops the lock. The file stays: removing it would let a waiting process lock a
// file that a third one then replaces.
func (l *DirLock) Release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// tempName matches the temporary files and directories lwca writes before renaming them into
// place (results.WriteFile, npy.WriteFile, checkpoint.SaveModel, Analyze): ".<name>.tmp<N>".
var tempName = regexp.MustCompile(`^\..+\.tmp[0-9]+$`)

// stepDir matches weights/step_<S> and analysis/step_<S>.
var stepDir = regexp.MustCompile(`^step_[0-9]+$`)

// removeOrphans deletes what a killed process left half-written in the places of a run
// directory that lwca writes to: temporary files and directories, and checkpoint.tmp/.
func removeOrphans(dir string) error {
	places := []string{dir, filepath.Join(dir, SpectraDir), filepath.Join(dir, CheckpointDir)}
	for _, sub := range []string{WeightsDir, AnalysisDir} {
		places = append(places, filepath.Join(dir, sub))
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			if e.IsDir() && stepDir.MatchString(e.Name()) {
				places = append(places, filepath.Join(dir, sub, e.Name()))
			}
		}
	}
	var errs []error
	for _, p := range places {
		ents, err := os.ReadDir(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		for _, e := range ents {
			if tempName.MatchString(e.Name()) {
				errs = append(errs, os.RemoveAll(filepath.Join(p, e.Name())))
			}
		}
	}
	errs = append(errs, os.RemoveAll(filepath.Join(dir, CheckpointDir+".tmp")))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("removing temporary files in %s: %w", dir, err)
	}
	return nil
}

// runEntries are the top-level names a run writes; AnalysisDir is lwca analyze's default output.
var runEntries = []string{ConfigFile, MetricsFile, ConditioningFile, SummaryFile, SpectraDir, WeightsDir,
	CheckpointDir, CheckpointDir + ".tmp", CheckpointDir + ".old", AnalysisDir, LockFile}

// checkRunDir refuses a directory that holds other files but no run (no summary.json): that
// is not a run directory, and --out probably named the wrong one. A missing directory is fine.
func checkRunDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	var foreign []string
	isRun := false
	for _, e := range ents {
		switch name := e.Name(); {
		case name == SummaryFile:
			isRun = true
		case !slices.Contains(runEntries, name) && !tempName.MatchString(name):
			foreign = append(foreign, name)
		}
	}
	if !isRun && len(foreign) > 0 {
		if len(foreign) > 3 {
			foreign = append(foreign[:3], "…")
		}
		return fmt.Errorf("%s is not empty (%s) and holds no run (no %s); a run goes into a new or empty directory or one that holds a run",
			dir, strings.Join(foreign, ", "), SummaryFile)
	}
	return nil
}

// clearRun prepares the locked directory dir for a fresh run. It removes only what lwca
// writes: a file the user put into weights/ stays.
func clearRun(dir string) error {
	if err := checkRunDir(dir); err != nil {
		return err
	}
	if err := removeOrphans(dir); err != nil {
		return err
	}
	var errs []error
	for _, f := range []string{MetricsFile, ConditioningFile, SummaryFile, CheckpointDir, CheckpointDir + ".old"} {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, f)))
	}
	// Directories users look into: remove lwca's entries, then the directory if that empties it.
	for sub, ours := range map[string]func(string) bool{
		WeightsDir:  stepDir.MatchString,
		AnalysisDir: stepDir.MatchString,
		SpectraDir:  func(n string) bool { return n == rundir.SpectraIndexFile || strings.HasSuffix(n, ".npy") },
	} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			if ours(e.Name()) {
				errs = append(errs, os.RemoveAll(filepath.Join(dir, sub, e.Name())))
			}
		}
		os.Remove(filepath.Join(dir, sub)) // fails, harmlessly, if the user's files remain
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	return nil
}

// ChildDir returns parent/name after checking that it is a directory directly inside parent:
// name comes from a config or a sweep value, and must not lead elsewhere.
func ChildDir(parent, name string) (string, error) {
	if !filepath.IsLocal(name) || name == "." || strings.ContainsAny(name, `/\`) || name != filepath.Clean(name) {
		return "", fmt.Errorf("%q is not a directory name inside %s", name, parent)
	}
	return filepath.Join(parent, name), nil
}
