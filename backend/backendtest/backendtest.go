// Package backendtest runs benchmarks and tests once per numeric backend that loads here.
package backendtest

import (
	"testing"

	"github.com/lwca/lwca/backend"
)

// Each runs f as a sub-benchmark per backend (openblas when loadable, gonum), with the
// analysis's eigenvalue solver routed through it, and restores the automatic choice after.
func Each(b *testing.B, f func(b *testing.B)) {
	for _, mode := range []backend.Mode{backend.OpenBLAS, backend.Gonum} {
		if _, err := Use(mode); err != nil {
			b.Logf("%s: %v", mode, err)
			continue
		}
		b.Run(string(mode), f)
	}
	Use(backend.Auto)
}

// Use installs a backend for gorgonia, gonum and the analysis's eigenvalue solver.
func Use(mode backend.Mode) (backend.Info, error) {
	info, err := backend.Init(mode, 0)
	if err != nil {
		return info, err
	}
	backend.UseForAnalysis(info)
	return info, nil
}
