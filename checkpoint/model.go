// Package checkpoint saves and restores a model's state (parameters, normalisation buffers)
// and a run's full training state, as directories of .npy files that numpy reads directly.
//
//	checkpoint.SaveModel("weights/step_1000", store)   // fc1.weight.npy, bn1.running_mean.npy, …, model.json
//	checkpoint.LoadModel("weights/step_1000", store)   // into a store built by the same network
//
// Linear weights are stored in × out (h = x·W); convolution weights (kh·kw·C_in) × C_out with
// rows in (kh, kw, C_in) order. model.json lists every array with its role and shape.
package checkpoint

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/npy"
	"github.com/lwca/lwca/results"
	"gorgonia.org/tensor"
)

// ModelFile is the manifest of a saved model state.
const ModelFile = "model.json"

// Manifest describes a saved model state.
type Manifest struct {
	Format  int     `json:"format"` // 1
	Dtype   string  `json:"dtype"`  // float32 or float64
	Step    int     `json:"step"`   // the training step the state was taken before
	Arrays  []Array `json:"arrays"`
	Comment string  `json:"comment,omitempty"`
}

// Array is one saved tensor.
type Array struct {
	Name  string `json:"name"`  // e.g. fc1.weight
	Kind  string `json:"kind"`  // weight, bias, scale, shift (parameters) or buffer
	Layer string `json:"layer"` // owning layer, for parameters
	Shape []int  `json:"shape"`
	File  string `json:"file"`
}

// SaveModel writes store's parameters and buffers into dir, one .npy file each and
// model.json, as a whole: they go into a temporary directory beside dir, which is synced and
// renamed to dir (replacing an older dir). A crash leaves dir absent or complete, and at
// worst the temporary ".<dir>.tmp<N>" beside it, which lwca removes when it resumes.
func SaveModel(dir string, store *graph.Store, step int) (err error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	final := dir
	dir, err = os.MkdirTemp(parent, "."+filepath.Base(final)+".tmp")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	m := Manifest{Format: 1, Dtype: store.Dtype.String(), Step: step}
	save := func(name, kind, layer string, t *tensor.Dense) error {
		file := name + ".npy"
		shape := []int(t.Shape().Clone())
		if err := npy.WriteFile(filepath.Join(dir, file), shape, t.Data()); err != nil {
			return fmt.Errorf("checkpoint: %s: %w", name, err)
		}
		m.Arrays = append(m.Arrays, Array{Name: name, Kind: kind, Layer: layer, Shape: shape, File: file})
		return nil
	}
	for _, p := range store.Params() {
		if err := save(p.Name, p.Role.String(), p.Layer, p.Value); err != nil {
			return err
		}
	}
	for _, b := range store.Buffers() {
		if err := save(b.Name, "buffer", "", b.Value); err != nil {
			return err
		}
	}
	if err := writeJSON(filepath.Join(dir, ModelFile), m); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	results.SyncDir(dir)
	// A resumed run saves a step again that it saved before it was stopped.
	if err := os.RemoveAll(final); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(dir, final); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	results.SyncDir(parent)
	return nil
}

// LoadModel reads a state saved by SaveModel into store, which must hold the same arrays
// (build the network first). Every mismatch is an error naming the file.
func LoadModel(dir string, store *graph.Store) (Manifest, error) {
	var m Manifest
	path := filepath.Join(dir, ModelFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return m, fmt.Errorf("checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	if m.Format != 1 {
		return m, fmt.Errorf("checkpoint: %s: format %d, this version reads format 1", path, m.Format)
	}
	if m.Dtype != store.Dtype.String() {
		return m, fmt.Errorf("checkpoint: %s holds %s arrays, the model is %s", path, m.Dtype, store.Dtype)
	}
	want := map[string]*tensor.Dense{}
	for _, p := range store.Params() {
		want[p.Name] = p.Value
	}
	for _, b := range store.Buffers() {
		want[b.Name] = b.Value
	}
	seen := map[string]bool{}
	for _, a := range m.Arrays {
		t, ok := want[a.Name]
		if !ok {
			return m, fmt.Errorf("checkpoint: %s lists %q, which the model does not have", path, a.Name)
		}
		if seen[a.Name] {
			return m, fmt.Errorf("checkpoint: %s lists %q twice", path, a.Name)
		}
		seen[a.Name] = true
		if err := readInto(filepath.Join(dir, filepath.Base(a.File)), t); err != nil {
			return m, err
		}
	}
	for name := range want {
		if !seen[name] {
			return m, fmt.Errorf("checkpoint: %s has no array for %q", path, name)
		}
	}
	return m, nil
}

// readInto copies an .npy file into t after checking dtype and shape.
func readInto(file string, t *tensor.Dense) error {
	a, err := npy.ReadFile(file)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if a.FortranOrder {
		a = a.COrder()
	}
	if !slices.Equal(a.Shape, []int(t.Shape())) {
		return fmt.Errorf("checkpoint: %s has shape %v, expected %v", file, a.Shape, t.Shape())
	}
	switch d := t.Data().(type) {
	case []float32:
		if a.F32 == nil {
			return fmt.Errorf("checkpoint: %s holds %s, expected <f4", file, a.Dtype)
		}
		copy(d, a.F32)
	case []float64:
		if a.F64 == nil {
			return fmt.Errorf("checkpoint: %s holds %s, expected <f8", file, a.Dtype)
		}
		copy(d, a.F64)
	default:
		return fmt.Errorf("checkpoint: unsupported tensor type %T", d)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return results.WriteFile(path, append(b, '\n'))
}
