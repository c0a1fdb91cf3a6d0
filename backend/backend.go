package backend

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lwca/lwca/backend/sgemm"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	"gorgonia.org/gorgonia"
)

// Mode says which numeric library Init should install.
type Mode string

const (
	// Auto uses OpenBLAS when it can be loaded and gonum otherwise.
	Auto Mode = "auto"
	// OpenBLAS requires OpenBLAS; Init fails when it cannot be loaded.
	OpenBLAS Mode = "openblas"
	// Gonum uses gonum's pure-Go routines.
	Gonum Mode = "gonum"
)

// EnvMode is the environment variable read by ModeFromEnv.
const EnvMode = "LWCA_BACKEND"

// ParseMode converts s to a Mode. The empty string means Auto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return Auto, nil
	case Auto, OpenBLAS, Gonum:
		return m, nil
	}
	return "", fmt.Errorf("backend: unknown mode %q (valid: auto, openblas, gonum)", s)
}

// ModeFromEnv returns the mode named by the environment variable
// LWCA_BACKEND, Auto when it is unset or empty.
func ModeFromEnv() (Mode, error) {
	m, err := ParseMode(os.Getenv(EnvMode))
	if err != nil {
		return "", fmt.Errorf("%s: %w", EnvMode, err)
	}
	return m, nil
}

// SgemmKernel is Info.Core of the gonum backend when its float32 products run lwca's
// AVX2/FMA kernel (package sgemm).
const SgemmKernel = "sgemm-avx2-fma"

// Info describes the installed backend.
type Info struct {
	Name    string // "openblas" or "gonum"
	Library string // file of the loaded library; empty for gonum
	Threads int    // OpenBLAS threads, or GOMAXPROCS for gonum
	Version string // openblas_get_config(), when the library has it
	Core    string // OpenBLAS kernel family in use, e.g. "SkylakeX"; SgemmKernel for gonum with it
	Reason  string // why Auto fell back to gonum; empty otherwise
}

// String returns a one-line description suitable for logs.
func (i Info) String() string {
	s := fmt.Sprintf("%s (%d threads)", i.Name, i.Threads)
	if i.Core == SgemmKernel {
		s += " with the " + SgemmKernel + " kernel"
	}
	if i.Library != "" {
		s += " " + i.Library
	}
	if i.Version != "" {
		s += " [" + i.Version + "]"
	}
	if i.Reason != "" {
		s += ": " + i.Reason
	}
	return s
}

var (
	initMu  sync.Mutex
	current atomic.Pointer[Info]
	// active is the library behind the installed implementation, nil for gonum.
	active atomic.Pointer[library]
	// loaded caches the library once opened; dlopen is not undone.
	loaded *library
)

// Current returns the installed backend. Before Init it reports gonum, the
// default of gonum and gorgonia.
func Current() Info {
	if i := current.Load(); i != nil {
		return *i
	}
	return Info{Name: string(Gonum), Threads: runtime.GOMAXPROCS(0)}
}

// Init installs the backend chosen by mode and returns its description.
// threads is the number of OpenBLAS threads; threads <= 0 means
// runtime.NumCPU(), so that on an idle machine a single large product
// occupies every core. The threads work only inside a call, the calling
// goroutine's thread being one of them, so they add to the program's
// goroutines only while a product runs. When other goroutines or processes
// keep the cores busy meanwhile, the BLAS threads wait for each other and
// threads = 1 can be faster: on 2 shared cores a 128×784·784×256 sgemm took
// 0.46 ms with 1 thread and 0.84 ms with 2.
//
// The OpenBLAS library is opened on the first call that needs it; later
// calls may switch between backends.
//
// With mode OpenBLAS, an error is returned when the library cannot be loaded,
// and the installed backend is left unchanged. With Auto, that failure is
// recorded in Info.Reason and gonum is installed.
func Init(mode Mode, threads int) (Info, error) {
	m, err := ParseMode(string(mode))
	if err != nil {
		return Current(), err
	}
	initMu.Lock()
	defer initMu.Unlock()

	if m == Gonum {
		return installGonum(""), nil
	}
	if loaded == nil {
		lib, err := openLibrary(libraryNames)
		if err != nil {
			if m == OpenBLAS {
				return Current(), fmt.Errorf("backend: mode %q: %w; install OpenBLAS (Debian: apt-get install libopenblas0) or set %s=gonum", m, err, EnvMode)
			}
			return installGonum(err.Error()), nil
		}
		loaded = lib
	}
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	loaded.setThreads(threads)
	info := Info{
		Name:    string(OpenBLAS),
		Library: loaded.path,
		Threads: loaded.threads(threads),
		Version: loaded.config(),
		Core:    loaded.corename(),
	}
	install(openblasImpl{lib: loaded})
	active.Store(loaded)
	current.Store(&info)
	return info, nil
}

// SetThreads changes the OpenBLAS threads of the installed backend to n (at least 1) and
// leaves Current as Init set it: the count a run asked for. A run narrows itself to one
// thread while its analysis worker solves factors beside training, because OpenBLAS shares
// one pool of threads among its callers and two callers that each ask for every core wait on
// each other. The caller makes sure no other goroutine is inside OpenBLAS meanwhile. It
// does nothing with gonum.
func SetThreads(n int) {
	if lib := active.Load(); lib != nil {
		lib.setThreads(max(n, 1))
	}
}

// Threads reports the OpenBLAS threads in effect; 0 with gonum, which has no pool of threads
// for concurrent callers to share.
func Threads() int {
	if lib := active.Load(); lib != nil {
		return lib.threads(Current().Threads)
	}
	return 0
}

// Reexec runs the program again from the start, with OPENBLAS_CORETYPE set, when the
// OpenBLAS that Init loaded chose its generic kernels on a CPU that has faster ones (the
// kernels are chosen when the library loads, and unloading OpenBLAS once its threads have
// started is not safe). A program calls it right after Init, before it has done anything it
// would repeat. It returns nil when there is nothing to do (gonum, a good choice, the
// variable already set, or a test binary) and an error when the program cannot be
// executed again; the generic kernels then stay: slower, still correct.
func Reexec() error {
	initMu.Lock()
	lib := loaded
	initMu.Unlock()
	if lib == nil || lib.betterCore == "" || testing.Testing() {
		return nil
	}
	return reexec(lib)
}

func reexec(lib *library) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("backend: OpenBLAS chose its generic kernels; cannot restart with OPENBLAS_CORETYPE=%s: %w", lib.betterCore, err)
	}
	env := append(os.Environ(), "OPENBLAS_CORETYPE="+lib.betterCore)
	if err := execProgram(exe, os.Args, env); err != nil {
		return fmt.Errorf("backend: OpenBLAS chose its generic kernels; cannot restart with OPENBLAS_CORETYPE=%s: %w", lib.betterCore, err)
	}
	return nil // only a stand-in for exec returns
}

func installGonum(reason string) Info {
	info := Info{Name: string(Gonum), Threads: runtime.GOMAXPROCS(0), Reason: reason}
	if sgemm.Available() {
		// gonum with lwca's AVX2/FMA float32 product, 10× faster than gonum's own.
		install(sgemm.Implementation{})
		info.Core = SgemmKernel
	} else {
		install(gonum.Implementation{})
	}
	active.Store(nil)
	current.Store(&info)
	return info
}

// impl is what every consumer of BLAS in the program needs: gorgonia's
// interface is the union of gonum's four, so it covers blas32 and blas64.
type impl interface {
	blas.Float32
	blas.Float64
	blas.Complex64
	blas.Complex128
}

func install(b impl) {
	blas64.Use(b)
	blas32.Use(b)
	gorgonia.Use(b) // also calls tensor.Use
}
