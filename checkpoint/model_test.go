package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"gorgonia.org/tensor"
)

func smallStore(t testing.TB, seed uint64) *graph.Store {
	t.Helper()
	net, err := nets.MLP(nets.MLPSpec{Input: 3, Depth: 2, Width: 4, Classes: 2, Bias: true, Norm: nets.BatchNorm})
	if err != nil {
		t.Fatal(err)
	}
	store := graph.NewStore(tensor.Float32, seed)
	b := graph.NewBuilder(graph.NewExprGraph(), store, graph.Train, 5)
	if _, err := net.Forward(b, b.Input("x", 5, 3)); err != nil {
		t.Fatal(err)
	}
	return store
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	a, b := smallStore(t, 1), smallStore(t, 2)
	a.Buffer("bn1.running_mean").Value.Data().([]float32)[2] = 0.75
	if err := SaveModel(dir, a, 7); err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Step != 7 || len(m.Arrays) != len(a.Params())+len(a.Buffers()) {
		t.Errorf("manifest %+v", m)
	}
	for i, p := range a.Params() {
		want, got := p.Value.Data().([]float32), b.Params()[i].Value.Data().([]float32)
		for j := range want {
			if want[j] != got[j] {
				t.Fatalf("%s[%d] = %v after loading, want %v", p.Name, j, got[j], want[j])
			}
		}
	}
	if v := b.Buffer("bn1.running_mean").Value.Data().([]float32)[2]; v != 0.75 {
		t.Errorf("running mean not restored: %v", v)
	}
}

func TestLoadRejectsMismatches(t *testing.T) {
	dir := t.TempDir()
	if err := SaveModel(dir, smallStore(t, 1), 0); err != nil {
		t.Fatal(err)
	}
	// A model of another shape.
	net, _ := nets.MLP(nets.MLPSpec{Input: 3, Depth: 2, Width: 5, Classes: 2, Bias: true, Norm: nets.BatchNorm})
	other := graph.NewStore(tensor.Float32, 1)
	b := graph.NewBuilder(graph.NewExprGraph(), other, graph.Train, 5)
	net.Forward(b, b.Input("x", 5, 3))
	if _, err := LoadModel(dir, other); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("shape mismatch: %v", err)
	}
	// Another dtype.
	if _, err := LoadModel(dir, graph.NewStore(tensor.Float64, 1)); err == nil || !strings.Contains(err.Error(), "float32") {
		t.Errorf("dtype mismatch: %v", err)
	}
	// A truncated array file.
	f := filepath.Join(dir, "fc1.weight.npy")
	data, _ := os.ReadFile(f)
	os.WriteFile(f, data[:len(data)-3], 0o644)
	if _, err := LoadModel(dir, smallStore(t, 1)); err == nil || !strings.Contains(err.Error(), "fc1.weight") {
		t.Errorf("truncated array: %v", err)
	}
}

// FuzzLoadModel: no manifest, however damaged, panics the loader; it loads or says why not.
func FuzzLoadModel(f *testing.F) {
	dir := f.TempDir()
	if err := SaveModel(dir, smallStore(f, 1), 3); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(dir, ModelFile))
	f.Add(good)
	f.Add([]byte(`{"format":1,"dtype":"float32","arrays":[{"name":"fc1.weight","file":"../../etc/passwd"}]}`))
	f.Add([]byte(`{"format":2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, manifest []byte) {
		d := t.TempDir()
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			os.WriteFile(filepath.Join(d, e.Name()), b, 0o644)
		}
		os.WriteFile(filepath.Join(d, ModelFile), manifest, 0o644)
		LoadModel(d, smallStore(t, 1))
	})
}
