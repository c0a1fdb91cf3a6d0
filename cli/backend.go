package cli

import (
	"fmt"
	"os"
	"strconv"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/backend"
	"github.com/lwca/lwca/experiments/config"
)

// setupBackend loads the numeric backend chosen by --backend (or LWCA_BACKEND; default auto)
// and --threads, and routes the analysis's eigenvalue solver through it.
func setupBackend(f flags) (backend.Info, error) {
	mode, err := backend.ModeFromEnv()
	if err != nil {
		return backend.Info{}, err
	}
	if s := f.last("backend"); s != "" {
		if mode, err = backend.ParseMode(s); err != nil {
			return backend.Info{}, usageError{err.Error()}
		}
	}
	threads := 0
	if s := f.last("threads"); s != "" {
		if threads, err = strconv.Atoi(s); err != nil || threads < 0 {
			return backend.Info{}, usageError{fmt.Sprintf("--threads %q: expected a whole number ≥ 0 (0: every core)", s)}
		}
	}
	info, err := backend.Init(mode, threads)
	if err != nil {
		return info, err
	}
	if err := backend.Reexec(); err != nil { // returns only if the generic kernels stay
		fmt.Fprintln(os.Stderr, "lwca:", err)
	}
	analysis.DefaultSolver = backend.Eigenvalues
	analysis.DefaultRankK = analysis.ParallelRankK
	if info.Name == string(backend.OpenBLAS) {
		analysis.DefaultRankK = backend.RankK // gonum's own dsyrk is slower than the parallel loop
	}
	return info, nil
}

func backendRecord(i backend.Info) map[string]any {
	m := map[string]any{"name": i.Name, "threads": i.Threads}
	if i.Library != "" {
		m["library"] = i.Library
	}
	if i.Core != "" {
		m["core"] = i.Core
	}
	if i.Version != "" {
		m["version"] = i.Version
	}
	return m
}

// convThreads gives convolutional networks one BLAS thread unless --threads says otherwise:
// their convolutions already spread the products over the cores, and BLAS threads on top
// spin against them (measured: ResNet-20 steps take longer with a BLAS thread per core).
func convThreads(f flags, cfg config.Config, info backend.Info) (backend.Info, error) {
	if f.last("threads") != "" || cfg.Model.Arch == config.ArchMLP || info.Threads == 1 {
		return info, nil
	}
	return backend.Init(backend.Mode(info.Name), 1)
}
