package main

import (
	"fmt"
	"strconv"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/backend"
	"github.com/lwca/lwca/backend/backendtest"
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
	analysis.DefaultSolver = backendtest.SymEigenvalues
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
