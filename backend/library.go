package backend

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"
)

// libraryNames lists the names tried, in order, by dlopen.
var libraryNames = defaultLibraryNames()

func defaultLibraryNames() []string {
	if runtime.GOOS == "darwin" {
		return []string{"libopenblas.0.dylib", "libopenblas.dylib"}
	}
	// libopenblas.so.0 is the run-time name (Debian libopenblas0); the bare
	// name only exists with the development package.
	return []string{"libopenblas.so.0", "libopenblas.so"}
}

// library holds the entry points of an opened OpenBLAS. A zero address
// means the symbol is missing; optional ones then fall back to gonum.
type library struct {
	handle uintptr
	path   string

	sgemm, dgemm uintptr // required
	ssyrk, dsyrk uintptr
	dsyevd       uintptr

	setNumThreads, getNumThreads, getConfig, getCorename uintptr

	// betterCore is the OPENBLAS_CORETYPE that would give faster kernels than the
	// library chose; see Reexec.
	betterCore string
}

// openLibrary opens the first of names that loads and has sgemm_ and dgemm_.
func openLibrary(names []string) (*library, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("cannot load OpenBLAS: no library names to try")
	}
	var fails []string
	for _, name := range names {
		h, err := dlopen(name)
		if err != nil {
			msg := err.Error()
			if msg == "" {
				msg = name + ": dlopen failed"
			}
			fails = append(fails, msg)
			continue
		}
		lib := &library{
			handle:        h,
			sgemm:         dlsym(h, "sgemm_"),
			dgemm:         dlsym(h, "dgemm_"),
			ssyrk:         dlsym(h, "ssyrk_"),
			dsyrk:         dlsym(h, "dsyrk_"),
			dsyevd:        dlsym(h, "dsyevd_"),
			setNumThreads: dlsym(h, "openblas_set_num_threads"),
			getNumThreads: dlsym(h, "openblas_get_num_threads"),
			getConfig:     dlsym(h, "openblas_get_config"),
			getCorename:   dlsym(h, "openblas_get_corename"),
		}
		if lib.sgemm == 0 || lib.dgemm == 0 {
			// Not unloaded: its constructors have run (see betterCore).
			fails = append(fails, name+": no sgemm_ or dgemm_ symbol")
			continue
		}
		lib.path = mappedFile(lib.dgemm, name)
		lib.betterCore = betterCore(lib.corename())
		return lib, nil
	}
	return nil, fmt.Errorf("cannot load OpenBLAS: %s", strings.Join(fails, "; "))
}

func (l *library) setThreads(n int) {
	if l.setNumThreads != 0 {
		ccall(l.setNumThreads, uintptr(n))
	}
}

// threads reports the thread count OpenBLAS will use; it may be capped by
// the library's build-time maximum. want is returned when it cannot ask.
func (l *library) threads(want int) int {
	if l.getNumThreads == 0 {
		return want
	}
	return int(int32(ccall(l.getNumThreads)))
}

func (l *library) config() string {
	if l.getConfig == 0 {
		return ""
	}
	return strings.TrimSpace(cstring(l.getConfig))
}

func (l *library) corename() string {
	if l.getCorename == 0 {
		return ""
	}
	return strings.TrimSpace(cstring(l.getCorename))
}

// betterCore returns the kernel family to ask for through OPENBLAS_CORETYPE when the
// library's run-time kernel selection (DYNAMIC_ARCH), reported as corename, did not
// recognise the CPU and fell back to the generic SSE3 kernels ("Prescott") although the
// CPU has AVX2 or AVX-512. OpenBLAS 0.3.21 (Debian 12) does so on Intel Xeon model 0xCF,
// and sgemm is then 3 to 4 times slower. A choice made by the user through
// OPENBLAS_CORETYPE is left alone: "" then, and when the selection stands.
//
// The selection runs when the library is loaded, and its threads start then too; unloading
// it (dlclose) and loading it again has crashed OpenBLAS, so the remedy is a new process:
// Reexec.
func betterCore(corename string) string {
	if strings.TrimSpace(corename) != "Prescott" {
		return ""
	}
	if _, set := os.LookupEnv("OPENBLAS_CORETYPE"); set {
		return ""
	}
	return coreTypeFor(cpuFlags())
}

// coreTypeFor names the OpenBLAS kernel family for a CPU with the given
// /proc/cpuinfo flags, or "" when the generic kernels are as good as any.
func coreTypeFor(flags map[string]bool) string {
	has := func(names ...string) bool {
		for _, n := range names {
			if !flags[n] {
				return false
			}
		}
		return true
	}
	switch {
	case has("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "fma", "avx2"):
		return "SkylakeX"
	case has("avx2", "fma"):
		return "Haswell"
	}
	return ""
}

// cpuFlags returns the flags of the first processor in /proc/cpuinfo, or
// nil where that file does not exist.
func cpuFlags() map[string]bool {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		flags := make(map[string]bool)
		for _, fl := range strings.Fields(val) {
			flags[fl] = true
		}
		return flags
	}
	return nil
}

// mappedFile returns the file mapped at addr according to /proc/self/maps,
// which resolves the soname and any alternatives symlinks to the file that
// was really loaded. It returns name when that is not possible.
func mappedFile(addr uintptr, name string) string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return name
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if uint64(addr) >= start && uint64(addr) < end {
			return strings.Join(fields[5:], " ")
		}
	}
	return name
}

// Fortran character arguments: pointers to these bytes.
var (
	charN, charT byte = 'N', 'T'
	charU, charL byte = 'U', 'L'
)

// fortranInt is the integer type of LP64 OpenBLAS builds such as Debian's
// libopenblas0 (the ILP64 build is a different library, libopenblas64).
type fortranInt = int32

const maxFortranInt = 1<<31 - 1

func fitFortran(vals ...int) bool {
	for _, v := range vals {
		if v < 0 || v > maxFortranInt {
			return false
		}
	}
	return true
}

// gemmArgs holds the scalar arguments of ?gemm_ on the heap, where they
// stay put during the call.
type gemmArgs[T float32 | float64] struct {
	m, n, k, lda, ldb, ldc fortranInt
	alpha, beta            T
}

// gemm computes the row-major C = alpha·op(A)·op(B) + beta·C with the
// column-major Fortran routine fn. A row-major matrix read column-major is its
// transpose, so it asks for Cᵀ = alpha·op(B)ᵀ·op(A)ᵀ + beta·Cᵀ: the operands
// swap places and keep their transpose flags. Arguments must be valid.
func gemm[T float32 | float64](fn uintptr, tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	p := &gemmArgs[T]{
		m: fortranInt(n), n: fortranInt(m), k: fortranInt(k),
		lda: fortranInt(ldb), ldb: fortranInt(lda), ldc: fortranInt(ldc),
		alpha: alpha, beta: beta,
	}
	ccall(fn,
		uintptr(unsafe.Pointer(transChar(tB))), uintptr(unsafe.Pointer(transChar(tA))),
		uintptr(unsafe.Pointer(&p.m)), uintptr(unsafe.Pointer(&p.n)), uintptr(unsafe.Pointer(&p.k)),
		uintptr(unsafe.Pointer(&p.alpha)),
		uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&p.lda)),
		uintptr(unsafe.Pointer(&a[0])), uintptr(unsafe.Pointer(&p.ldb)),
		uintptr(unsafe.Pointer(&p.beta)),
		uintptr(unsafe.Pointer(&c[0])), uintptr(unsafe.Pointer(&p.ldc)),
		1, 1, // hidden lengths of the character arguments
	)
	runtime.KeepAlive(p)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
}

// syrkArgs holds the scalar arguments of ?syrk_.
type syrkArgs[T float32 | float64] struct {
	n, k, lda, ldc fortranInt
	alpha, beta    T
}

// syrk computes one triangle of the row-major C = alpha·A·Aᵀ + beta·C
// (trans false, A n×k) or C = alpha·Aᵀ·A + beta·C (trans true, A k×n).
// Read column-major, A is transposed and the upper triangle of C is the
// lower one, so both flags flip. Arguments must be valid.
func syrk[T float32 | float64](fn uintptr, upper, trans bool, n, k int, alpha T, a []T, lda int, beta T, c []T, ldc int) {
	p := &syrkArgs[T]{
		n: fortranInt(n), k: fortranInt(k), lda: fortranInt(lda), ldc: fortranInt(ldc),
		alpha: alpha, beta: beta,
	}
	uplo := &charU
	if upper {
		uplo = &charL
	}
	ccall(fn,
		uintptr(unsafe.Pointer(uplo)), uintptr(unsafe.Pointer(transChar(!trans))),
		uintptr(unsafe.Pointer(&p.n)), uintptr(unsafe.Pointer(&p.k)),
		uintptr(unsafe.Pointer(&p.alpha)),
		uintptr(unsafe.Pointer(&a[0])), uintptr(unsafe.Pointer(&p.lda)),
		uintptr(unsafe.Pointer(&p.beta)),
		uintptr(unsafe.Pointer(&c[0])), uintptr(unsafe.Pointer(&p.ldc)),
		1, 1,
	)
	runtime.KeepAlive(p)
	runtime.KeepAlive(a)
	runtime.KeepAlive(c)
}

func transChar(t bool) *byte {
	if t {
		return &charT
	}
	return &charN
}

// syevdArgs holds the scalar arguments of dsyevd_.
type syevdArgs struct {
	n, lda, lwork, liwork, info fortranInt
}

// dsyevd calls LAPACK's dsyevd_ for eigenvalues only (jobz='N') of the
// column-major symmetric n×n matrix a, of which the lower triangle is read
// (the upper one of a row-major matrix). a is overwritten and w receives the
// eigenvalues in ascending order. It returns LAPACK's info.
func dsyevd(fn uintptr, n int, a, w []float64) int {
	p := &syevdArgs{n: fortranInt(n), lda: fortranInt(max(1, n)), lwork: -1, liwork: -1}
	var work0 [1]float64
	var iwork0 [1]fortranInt
	call := func(work []float64, iwork []fortranInt) {
		ccall(fn,
			uintptr(unsafe.Pointer(&charN)), uintptr(unsafe.Pointer(&charL)),
			uintptr(unsafe.Pointer(&p.n)),
			uintptr(unsafe.Pointer(&a[0])), uintptr(unsafe.Pointer(&p.lda)),
			uintptr(unsafe.Pointer(&w[0])),
			uintptr(unsafe.Pointer(&work[0])), uintptr(unsafe.Pointer(&p.lwork)),
			uintptr(unsafe.Pointer(&iwork[0])), uintptr(unsafe.Pointer(&p.liwork)),
			uintptr(unsafe.Pointer(&p.info)),
			1, 1,
		)
		runtime.KeepAlive(work)
		runtime.KeepAlive(iwork)
	}
	// Workspace query, then the real call with at least the documented
	// minimum for jobz='N' (2n+1 reals, 1 integer).
	call(work0[:], iwork0[:])
	if p.info != 0 {
		return int(p.info)
	}
	lwork := max(int(work0[0]), 2*n+1)
	liwork := max(int(iwork0[0]), 1)
	p.lwork, p.liwork = fortranInt(lwork), fortranInt(liwork)
	call(make([]float64, lwork), make([]fortranInt, liwork))
	runtime.KeepAlive(p)
	runtime.KeepAlive(a)
	runtime.KeepAlive(w)
	return int(p.info)
}
