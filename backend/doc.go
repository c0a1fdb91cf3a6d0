// Package backend selects, once at start-up, the numeric library behind every
// matrix product and symmetric eigenvalue problem of the program: OpenBLAS,
// loaded at run time without cgo, or pure-Go gonum.
//
// Init installs the chosen implementation in gonum's blas64 and blas32
// packages and in gorgonia (which passes it on to gorgonia.org/tensor), so
// mat.Dense.Mul, mat.SymDense.SymOuterK and a gorgonia MatMul all use it:
//
//	mode, err := backend.ModeFromEnv() // LWCA_BACKEND=auto|openblas|gonum
//	if err != nil {
//		log.Fatal(err)
//	}
//	info, err := backend.Init(mode, 0) // 0: one thread per CPU
//	if err != nil {
//		log.Fatal(err)
//	}
//	log.Printf("numeric backend: %s %s (%d threads)", info.Name, info.Version, info.Threads)
//	vals, err := backend.SymEigenvalues(n, cov) // ascending
//
// OpenBLAS is opened with github.com/ebitengine/purego, so binaries built
// with CGO_ENABLED=0 can use it; they then need the C library at run time.
// On Debian the library comes from the package libopenblas0. Only the
// Fortran entry points (sgemm_, dgemm_, ssyrk_, dsyrk_, dsyevd_) are called:
// every argument is a pointer, which purego can pass, and the row-major
// operands of gonum's interface are handed over as their column-major
// transposes.
//
// Products smaller than about 6×6·6×6 stay in gonum: there the cost of a
// foreign call exceeds the work.
//
// OpenBLAS picks its kernels for the CPU when it is loaded. Versions older
// than the CPU (Debian 12's 0.3.21 on recent Xeons) fall back to generic
// SSE3 kernels; the library is then loaded again with OPENBLAS_CORETYPE set
// from the CPU's flags (SkylakeX for AVX-512, Haswell for AVX2), unless that
// variable is already set. Info.Core reports the kernels in use.
//
// Init replaces package-level state of gonum, gorgonia and tensor. Call it
// before any other goroutine starts numeric work.
package backend
