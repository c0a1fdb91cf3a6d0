package experiments

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lwca/lwca/npy"
	"github.com/lwca/lwca/results"
	"github.com/lwca/lwca/rundir"
)

// spectraWriter appends one row per analysis step to one .npy file per layer and factor.
type spectraWriter struct {
	dir   string
	steps *npy.Appender
	files map[string]*npy.Appender
	index SpectraIndex
}

func newSpectraWriter(runDir string) (*spectraWriter, error) {
	dir := filepath.Join(runDir, SpectraDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("spectra: %w", err)
	}
	steps, err := npy.OpenAppender(filepath.Join(dir, rundir.SpectraStepsFile), "<i8", 2)
	if err != nil {
		return nil, err
	}
	w := &spectraWriter{dir: dir, steps: steps, files: map[string]*npy.Appender{},
		index: SpectraIndex{Steps: rundir.SpectraStepsFile,
			Note: "row i of each file is the factor's spectrum at step steps[i, 0] (epoch steps[i, 1]); eigenvalues descending, round-off negatives clipped to 0"}}
	return w, nil
}

func (w *spectraWriter) write(step, epoch int, la []LayerAnalysis) error {
	added := false
	for _, l := range la {
		for _, f := range []struct {
			factor string
			values []float64
		}{{FactorInput, l.Input.Values}, {FactorGradient, l.Gradient.Values}} {
			key := l.Layer + "." + f.factor
			a := w.files[key]
			if a == nil {
				name := key + ".npy"
				var err error
				if a, err = npy.OpenAppender(filepath.Join(w.dir, name), "<f8", len(f.values)); err != nil {
					return err
				}
				w.files[key] = a
				w.index.Files = append(w.index.Files, SpectrumFile{Layer: l.Layer, Factor: f.factor, File: name, Dim: len(f.values)})
				added = true
			}
			if err := a.AppendRow(f.values); err != nil {
				return err
			}
		}
	}
	if added {
		if err := w.writeIndex(); err != nil {
			return err
		}
	}
	// The step row goes last: a reader trusts only rows that steps.npy counts.
	return w.steps.AppendRow([]int64{int64(step), int64(epoch)})
}

func (w *spectraWriter) writeIndex() error {
	b, err := json.MarshalIndent(w.index, "", "  ")
	if err != nil {
		return err
	}
	return results.WriteFile(filepath.Join(w.dir, rundir.SpectraIndexFile), append(b, '\n'))
}

func (w *spectraWriter) sync() error {
	for _, a := range w.files {
		if err := a.Sync(); err != nil {
			return err
		}
	}
	return w.steps.Sync()
}

func (w *spectraWriter) close() error {
	var first error
	for _, a := range w.files {
		if err := a.Close(); err != nil && first == nil {
			first = err
		}
	}
	if err := w.steps.Close(); err != nil && first == nil {
		first = err
	}
	return first
}
