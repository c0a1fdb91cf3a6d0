package main

import (
	"fmt"
	"strconv"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/backend"
	"gonum.org/v1/gonum/mat"
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
	analysis.DefaultSolver = symEigenvalues
	return info, nil
}

// symEigenvalues adapts backend.SymEigenvalues to the analysis's solver signature.
func symEigenvalues(a *mat.SymDense) ([]float64, error) {
	n := a.SymmetricDim()
	raw := a.RawSymmetric()
	data := raw.Data
	if raw.Stride != n {
		data = make([]float64, n*n)
		for i := 0; i < n; i++ {
			copy(data[i*n:(i+1)*n], raw.Data[i*raw.Stride:i*raw.Stride+n])
		}
	}
	return backend.SymEigenvalues(n, data)
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
