package cli

import (
	"fmt"
	"github.com/lwca/lwca/experiments/sweep"
	"os"
	"runtime"

	"github.com/lwca/lwca/backend"
	"github.com/lwca/lwca/experiments/config"
)

// setupBackend loads the numeric backend chosen by --backend (or LWCA_BACKEND; default auto)
// and --threads, and routes the analysis's eigenvalue solver through it.
func (g *globals) setupBackend() (backend.Info, error) {
	mode, threads, err := g.backendFlags()
	if err != nil {
		return backend.Info{}, err
	}
	info, err := backend.Init(mode, threads)
	if err != nil {
		return info, err
	}
	if err := backend.Reexec(); err != nil { // returns only if the generic kernels stay
		fmt.Fprintln(os.Stderr, "lwca:", err)
	}
	backend.UseForAnalysis(info)
	return info, nil
}

// backendFlags checks --backend (else $LWCA_BACKEND) and --threads (0 when not given).
func (g *globals) backendFlags() (backend.Mode, int, error) {
	mode, err := backend.ModeFromEnv()
	if err != nil {
		return mode, 0, err
	}
	if g.Backend != "" {
		if mode, err = backend.ParseMode(g.Backend); err != nil {
			return mode, 0, usageError{msg: err.Error()}
		}
	}
	threads := 0
	if g.Threads != nil {
		if threads = *g.Threads; threads < 0 {
			return mode, 0, usageError{msg: fmt.Sprintf("--threads %d: expected a whole number ≥ 0 (0: every core)", threads)}
		}
	}
	return mode, threads, nil
}

// backendDetails prints, under --verbose, what the one-line summary of the backend leaves out.
func (g *globals) backendDetails(i backend.Info) {
	if !g.Verbose {
		return
	}
	fmt.Fprintf(g.stderr, "lwca: backend %s, %d threads, GOMAXPROCS %d\n", i.Name, i.Threads, runtime.GOMAXPROCS(0))
	for _, kv := range [][2]string{{"library", i.Library}, {"core", i.Core}, {"version", i.Version}} {
		if kv[1] != "" {
			fmt.Fprintf(g.stderr, "lwca: backend %s: %s\n", kv[0], kv[1])
		}
	}
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

// runThreads gives a run one BLAS thread unless --threads says otherwise, when its network
// is convolutional: its convolutions already spread the products over the cores, and BLAS
// threads on top spin against them (measured: ResNet-20 steps take longer with a BLAS thread
// per core). A run whose analysis solves beside training keeps its threads and narrows
// itself to one while its worker solves (see analysis.concurrent); runs sharing a process
// cannot, and sweepThreads gives them one.
func (g *globals) runThreads(cfg config.Config, info backend.Info) (backend.Info, error) {
	if g.Threads != nil || info.Threads == 1 || cfg.Model.Arch == config.ArchMLP {
		return info, nil
	}
	return backend.Init(backend.Mode(info.Name), 1)
}

// sweepThreads gives a local sweep one BLAS thread unless --threads says otherwise, when any
// run's network is convolutional (runThreads) or, with several runs side by side in the process
// (workers > 1), when any analyses beside training: a run cannot narrow the process's threads
// for its worker while others train (experiments.Options.SharedProcess), and the BLAS calls of
// all of them then run at once, each in its own thread, instead of queueing for one pool.
func (g *globals) sweepThreads(runs []sweep.Run, workers int, info backend.Info) (backend.Info, error) {
	for _, r := range runs {
		a := r.Config.Analysis
		if workers > 1 && a.Concurrent && a.Every > 0 && g.Threads == nil && info.Threads > 1 {
			return backend.Init(backend.Mode(info.Name), 1)
		}
		var err error
		if info, err = g.runThreads(r.Config, info); err != nil {
			return info, err
		}
	}
	return info, nil
}
