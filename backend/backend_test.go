package backend

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/lwca/lwca/backend/sgemm"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// testLibrary returns the loaded OpenBLAS. It skips the test when the library
// is absent, unless LWCA_REQUIRE_OPENBLAS=1, which makes that a failure.
func testLibrary(t testing.TB) *library {
	t.Helper()
	initMu.Lock()
	defer initMu.Unlock()
	if loaded == nil {
		lib, err := openLibrary(libraryNames)
		if err != nil {
			if os.Getenv("LWCA_REQUIRE_OPENBLAS") == "1" {
				t.Fatalf("LWCA_REQUIRE_OPENBLAS=1 but %v", err)
			}
			t.Skipf("OpenBLAS not installed: %v", err)
		}
		loaded = lib
	}
	return loaded
}

// useBackend installs mode for the rest of the test and restores the previous
// backend afterwards.
func useBackend(t testing.TB, mode Mode, threads int) Info {
	t.Helper()
	if mode == OpenBLAS {
		testLibrary(t)
	}
	prev := Current()
	info, err := Init(mode, threads)
	if err != nil {
		t.Fatalf("Init(%q, %d): %v", mode, threads, err)
	}
	t.Cleanup(func() {
		if _, err := Init(Mode(prev.Name), prev.Threads); err != nil {
			t.Errorf("restoring backend %v: %v", prev, err)
		}
	})
	return info
}

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mode
		ok   bool
	}{
		{"", Auto, true},
		{"auto", Auto, true},
		{" OpenBLAS ", OpenBLAS, true},
		{"gonum", Gonum, true},
		{"blas", "", false},
		{"cgo", "", false},
	} {
		got, err := ParseMode(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "auto, openblas, gonum") {
			t.Errorf("ParseMode(%q) error %q does not list the valid modes", tc.in, err)
		}
	}
}

func TestModeFromEnv(t *testing.T) {
	t.Setenv(EnvMode, "gonum")
	if m, err := ModeFromEnv(); err != nil || m != Gonum {
		t.Errorf("%s=gonum: got %q, %v", EnvMode, m, err)
	}
	t.Setenv(EnvMode, "")
	if m, err := ModeFromEnv(); err != nil || m != Auto {
		t.Errorf("%s empty: got %q, %v", EnvMode, m, err)
	}
	t.Setenv(EnvMode, "fast")
	if _, err := ModeFromEnv(); err == nil || !strings.Contains(err.Error(), EnvMode) {
		t.Errorf("%s=fast: error %v does not name the variable", EnvMode, err)
	}
}

func TestInitGonum(t *testing.T) {
	info := useBackend(t, Gonum, 0)
	if info.Name != "gonum" || info.Library != "" || info != Current() {
		t.Fatalf("Init(Gonum) = %+v, Current() = %+v", info, Current())
	}
	for name, got := range map[string]any{
		"blas64":   blas64.Implementation(),
		"blas32":   blas32.Implementation(),
		"gorgonia": gorgonia.WhichBLAS(),
		"tensor":   tensor.WhichBLAS(),
	} {
		switch got.(type) {
		case gonum.Implementation:
			if sgemm.Available() {
				t.Errorf("%s uses gonum's own Sgemm on a machine with the AVX2/FMA kernel", name)
			}
		case sgemm.Implementation:
		default:
			t.Errorf("%s uses %T, want gonum's implementation", name, got)
		}
	}
}

func TestInitOpenBLAS(t *testing.T) {
	for _, threads := range []int{1, 2} {
		info := useBackend(t, OpenBLAS, threads)
		if info.Name != "openblas" || info != Current() {
			t.Fatalf("Init(OpenBLAS) = %+v, Current() = %+v", info, Current())
		}
		if info.Threads != threads {
			t.Errorf("Init(OpenBLAS, %d): Threads = %d", threads, info.Threads)
		}
		if _, err := os.Stat(info.Library); err != nil {
			t.Errorf("Library %q: %v", info.Library, err)
		}
		if s := info.String(); !strings.Contains(s, "openblas") || !strings.Contains(s, info.Library) {
			t.Errorf("Info.String() = %q lacks the name or library", s)
		}
		if _, set := os.LookupEnv("OPENBLAS_CORETYPE"); !set && coreTypeFor(cpuFlags()) != "" && info.Core == "Prescott" && loaded.betterCore == "" {
			t.Errorf("OpenBLAS uses its generic Prescott kernels on a CPU with AVX2 (%s), and Reexec would not fix it", info.Version)
		}
		if !strings.Contains(info.Version, "OpenBLAS") {
			t.Errorf("Version = %q, want the openblas_get_config text", info.Version)
		}
		for name, got := range map[string]any{
			"blas64":   blas64.Implementation(),
			"blas32":   blas32.Implementation(),
			"gorgonia": gorgonia.WhichBLAS(),
			"tensor":   tensor.WhichBLAS(),
		} {
			if _, ok := got.(openblasImpl); !ok {
				t.Errorf("%s uses %T, want openblasImpl", name, got)
			}
		}
	}

	// gonum's mat package now multiplies through OpenBLAS.
	before := callCounts.dgemm.Load()
	a := mat.NewDense(40, 50, nil)
	b := mat.NewDense(50, 30, nil)
	var c mat.Dense
	c.Mul(a, b)
	if callCounts.dgemm.Load() == before {
		t.Error("mat.Dense.Mul of 40×50·50×30 did not reach OpenBLAS dgemm_")
	}
}

func TestInitMissingLibrary(t *testing.T) {
	useBackend(t, Gonum, 0) // restored after the library list below
	initMu.Lock()
	savedNames, savedLib := libraryNames, loaded
	libraryNames, loaded = []string{"libopenblas-missing-for-test.so.0"}, nil
	initMu.Unlock()
	t.Cleanup(func() {
		initMu.Lock()
		libraryNames, loaded = savedNames, savedLib
		initMu.Unlock()
	})

	before := Current()
	_, err := Init(OpenBLAS, 0)
	if err == nil {
		t.Fatal("Init(OpenBLAS) with a missing library succeeded")
	}
	for _, want := range []string{"libopenblas-missing-for-test.so.0", "libopenblas0", EnvMode + "=gonum"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if Current() != before {
		t.Errorf("failed Init changed the backend from %+v to %+v", before, Current())
	}

	info, err := Init(Auto, 0)
	if err != nil {
		t.Fatalf("Init(Auto) with a missing library: %v", err)
	}
	if info.Name != "gonum" || !strings.Contains(info.Reason, "libopenblas-missing-for-test.so.0") {
		t.Errorf("Init(Auto) = %+v, want gonum with the load failure as reason", info)
	}
}

func TestCoreTypeFor(t *testing.T) {
	set := func(names string) map[string]bool {
		m := make(map[string]bool)
		for _, n := range strings.Fields(names) {
			m[n] = true
		}
		return m
	}
	for _, tc := range []struct{ flags, want string }{
		{"", ""},
		{"sse2 sse3 ssse3 sse4_1 avx", ""},
		{"avx avx2", ""}, // no FMA: the Haswell kernels would fault
		{"avx avx2 fma", "Haswell"},
		{"avx avx2 fma avx512f", "Haswell"}, // AVX-512 subset too small for SkylakeX kernels
		{"avx avx2 fma avx512f avx512cd avx512bw avx512dq avx512vl", "SkylakeX"},
	} {
		if got := coreTypeFor(set(tc.flags)); got != tc.want {
			t.Errorf("coreTypeFor(%q) = %q, want %q", tc.flags, got, tc.want)
		}
	}
	// This machine's flags, when readable, must name a kernel no less capable
	// than what the flags allow.
	if f := cpuFlags(); f != nil && f["avx2"] && f["fma"] && coreTypeFor(f) == "" {
		t.Errorf("coreTypeFor(this CPU) is empty although it has AVX2 and FMA")
	}
}

// TestReexecForCoreType: a library that fell back to the generic kernels is not unloaded and
// loaded again (OpenBLAS has crashed on dlclose once its threads run) but the program is
// executed again with OPENBLAS_CORETYPE set; without a better choice nothing happens.
func TestReexecForCoreType(t *testing.T) {
	if _, set := os.LookupEnv("OPENBLAS_CORETYPE"); set {
		t.Skip("OPENBLAS_CORETYPE is set")
	}
	flags := cpuFlags()
	want := coreTypeFor(flags)
	if got := betterCore("Prescott"); got != want {
		t.Errorf("betterCore(Prescott) = %q, want %q for this CPU", got, want)
	}
	if got := betterCore("Haswell"); got != "" {
		t.Errorf("betterCore(Haswell) = %q, want the library's choice kept", got)
	}
	t.Setenv("OPENBLAS_CORETYPE", "Zen")
	if got := betterCore("Prescott"); got != "" {
		t.Errorf("betterCore with OPENBLAS_CORETYPE set = %q, want the user's choice kept", got)
	}
}

func TestReexecRuns(t *testing.T) {
	saved, savedExec := loaded, execProgram
	defer func() { loaded, execProgram = saved, savedExec }()
	var argv0 string
	var env []string
	execProgram = func(exe string, args, e []string) error { argv0, env = exe, e; return nil }

	loaded = &library{betterCore: ""}
	if err := Reexec(); err != nil || argv0 != "" {
		t.Fatalf("nothing to fix: Reexec = %v, executed %q", err, argv0)
	}
	// Test binaries are never executed again; reexec is what Reexec does outside them.
	loaded = &library{betterCore: "Haswell"}
	if err := Reexec(); err != nil || argv0 != "" {
		t.Fatalf("in a test binary: Reexec = %v, executed %q", err, argv0)
	}
	if err := reexec(loaded); err != nil || argv0 == "" || !slices.Contains(env, "OPENBLAS_CORETYPE=Haswell") {
		t.Fatalf("reexec = %v, executed %q with OPENBLAS_CORETYPE=Haswell in the environment: %v", err, argv0, slices.Contains(env, "OPENBLAS_CORETYPE=Haswell"))
	}
	execProgram = func(string, []string, []string) error { return errors.New("no exec") }
	if err := reexec(loaded); err == nil || !strings.Contains(err.Error(), "OPENBLAS_CORETYPE=Haswell") {
		t.Errorf("a failed exec: %v", err)
	}
}

// SetThreads changes the threads in effect, not the count Init installed; with gonum it does
// nothing and Threads reports none.
func TestSetThreads(t *testing.T) {
	info := useBackend(t, OpenBLAS, 2)
	if Threads() != 2 {
		t.Fatalf("after Init(OpenBLAS, 2): Threads() = %d", Threads())
	}
	SetThreads(1)
	if Threads() != 1 || Current() != info {
		t.Errorf("after SetThreads(1): Threads() = %d, Current() = %+v (want 1, %+v)", Threads(), Current(), info)
	}
	SetThreads(0)
	if Threads() != 1 {
		t.Errorf("SetThreads(0) set %d threads, want at least 1", Threads())
	}
	SetThreads(2)
	if Threads() != 2 {
		t.Errorf("after SetThreads(2): Threads() = %d", Threads())
	}
	useBackend(t, Gonum, 0)
	SetThreads(1)
	if Threads() != 0 {
		t.Errorf("gonum: Threads() = %d after SetThreads(1), want 0", Threads())
	}
}
