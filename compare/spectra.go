package compare

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/lwca/lwca/npy"
	"github.com/lwca/lwca/rundir"
)

// ErrNoSpectrum says that a run has no stored spectrum for a layer, factor and step. Figures
// that need spectra leave such runs out, and are left out when no run has any.
var ErrNoSpectrum = errors.New("spectrum not available")

// Spectra gives the eigenvalue spectra a run stored.
type Spectra interface {
	// Spectrum returns the eigenvalues of factor ("x", "grad" or "fisher") of layer at step,
	// in decreasing order. When none is stored the error wraps ErrNoSpectrum; other errors
	// mean a stored spectrum could not be read.
	Spectrum(step int, layer, factor string) ([]float64, error)
}

// NoSpectra is a run without stored spectra.
type NoSpectra struct{}

// Spectrum returns ErrNoSpectrum.
func (NoSpectra) Spectrum(int, string, string) ([]float64, error) { return nil, ErrNoSpectrum }

// SpectraDir reads the spectra a run keeps under <Dir>/spectra (see rundir.SpectraIndex): an
// index.json, a steps.npy and one .npy file per layer and factor (x and grad) with one row
// per analysis step. The spectrum of F = Σx ⊗ Σ∇h is formed from those two as every product
// λi(Σx)·λj(Σ∇h). Files are read once, on first use.
type SpectraDir struct {
	Dir string

	once  sync.Once
	err   error
	rows  map[int]int // step → row
	files map[[2]string]string
	cache map[string][]float64 // file → values (rows × dim, C order)
	dims  map[string]int
	mu    sync.Mutex
}

// NewSpectraDir returns the spectra reader of the run directory dir.
func NewSpectraDir(dir string) *SpectraDir { return &SpectraDir{Dir: dir} }

func (d *SpectraDir) load() {
	base := filepath.Join(d.Dir, rundir.SpectraDir)
	idx, err := rundir.ReadSpectraIndex(d.Dir)
	if errors.Is(err, os.ErrNotExist) {
		d.err = fmt.Errorf("%s: %w", d.Dir, ErrNoSpectrum)
		return
	}
	if err != nil {
		d.err = err
		return
	}
	steps, err := npy.ReadFile(filepath.Join(base, idx.Steps))
	if errors.Is(err, os.ErrNotExist) {
		d.err = fmt.Errorf("%s: %w", d.Dir, ErrNoSpectrum)
		return
	}
	if err != nil {
		d.err = err
		return
	}
	if len(steps.Shape) != 2 || steps.Shape[1] < 1 {
		d.err = fmt.Errorf("%s: shape %v, want (rows, 2)", filepath.Join(base, idx.Steps), steps.Shape)
		return
	}
	steps = steps.COrder()
	vals := steps.Float64s()
	d.rows = map[int]int{}
	for i := range steps.Shape[0] {
		d.rows[int(vals[i*steps.Shape[1]])] = i
	}
	d.files = map[[2]string]string{}
	d.dims = map[string]int{}
	d.cache = map[string][]float64{}
	for _, f := range idx.Files {
		d.files[[2]string{f.Layer, f.Factor}] = filepath.Join(base, f.File)
		d.dims[filepath.Join(base, f.File)] = f.Dim
	}
}

// Spectrum implements Spectra.
func (d *SpectraDir) Spectrum(step int, layer, factor string) ([]float64, error) {
	d.once.Do(d.load)
	if d.err != nil {
		return nil, d.err
	}
	if factor == rundir.FactorFisher {
		x, err := d.Spectrum(step, layer, rundir.FactorX)
		if err != nil {
			return nil, err
		}
		g, err := d.Spectrum(step, layer, rundir.FactorGrad)
		if err != nil {
			return nil, err
		}
		out := make([]float64, 0, len(x)*len(g))
		for _, a := range x {
			for _, b := range g {
				out = append(out, a*b)
			}
		}
		slices.SortFunc(out, func(a, b float64) int { return cmpDesc(a, b) })
		return out, nil
	}
	row, ok := d.rows[step]
	file := d.files[[2]string{layer, factor}]
	if !ok || file == "" {
		return nil, fmt.Errorf("%s: %s %s at step %d: %w", d.Dir, layer, factor, step, ErrNoSpectrum)
	}
	vals, dim, err := d.read(file)
	if err != nil {
		return nil, err
	}
	if (row+1)*dim > len(vals) {
		return nil, fmt.Errorf("%s: row %d missing: %w", file, row, ErrNoSpectrum)
	}
	out := slices.Clone(vals[row*dim : (row+1)*dim])
	slices.SortFunc(out, func(a, b float64) int { return cmpDesc(a, b) })
	return out, nil
}

func (d *SpectraDir) read(file string) ([]float64, int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.cache[file]; ok {
		return v, d.dims[file], nil
	}
	a, err := npy.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, fmt.Errorf("%s: %w", file, ErrNoSpectrum)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", file, err)
	}
	if len(a.Shape) != 2 {
		return nil, 0, fmt.Errorf("%s: shape %v, want (rows, dim)", file, a.Shape)
	}
	a = a.COrder()
	v := a.Float64s()
	if v == nil {
		return nil, 0, fmt.Errorf("%s: dtype %s is not numeric", file, a.Dtype)
	}
	d.cache[file], d.dims[file] = v, a.Shape[1]
	return v, a.Shape[1], nil
}

// cmpDesc orders a before b when a is larger.
func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}
