package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lwca/lwca/analysis"
	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/nets"
	"github.com/lwca/lwca/npy"
	"github.com/lwca/lwca/train"
	"gorgonia.org/tensor"
)

// Analysis never changes training: a run analysed at every step, with any estimator, gives
// the same metrics.jsonl as a run that is never analysed.
func TestAnalysisLeavesTrainingUnchanged(t *testing.T) {
	base := t.TempDir()
	runInto(t, smokeConfig(t, "analysis.every=0"), base)
	want, _ := os.ReadFile(filepath.Join(base, MetricsFile))
	for _, set := range [][]string{
		{"analysis.every=1"},
		{"analysis.every=1", "analysis.concurrent=true"},
		{"analysis.every=1", "analysis.fisher=true", "analysis.concurrent=true"},
		{"analysis.every=1", "analysis.source=fixed", "analysis.batch_size=100"},
		{"analysis.every=2", "analysis.source=average", "analysis.batches=3", "analysis.fisher=true"},
		{"analysis.every=1", "analysis.centered=true"},
	} {
		dir := t.TempDir()
		sum := runInto(t, smokeConfig(t, set...), dir)
		got, _ := os.ReadFile(filepath.Join(dir, MetricsFile))
		if !bytes.Equal(got, want) {
			t.Errorf("%v: training metrics differ from the unanalysed run", set)
		}
		if sum.AnalysisSteps == 0 {
			t.Errorf("%v: no analysis steps", set)
		}
	}
}

// The true Fisher's label sampling: averaged over many draws, the last layer's Σ∇h tends to
// its expectation over the model's softmax, (1/N) Σᵢ diag(pᵢ) − pᵢpᵢᵀ (since ∂ℓ/∂h = p − e_y).
func TestTrueFisherConvergesToExpectation(t *testing.T) {
	const n, in, classes, draws = 6, 4, 3, 4000
	net, err := nets.MLP(nets.MLPSpec{Input: in, Depth: 2, Width: 5, Classes: classes, Bias: true})
	if err != nil {
		t.Fatal(err)
	}
	store := graph.NewStore(tensor.Float64, 3)
	probe, err := train.NewProbe(net, store, n, in)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*in)
	for i := range x {
		x[i] = float32(2 * rng.NormFloat64())
	}
	y := make([]int32, n)
	ce := probe.Loss()
	ce.SampleLabels(func(_ int, p []float64) int32 { return sampleClass(rng, p) })
	sum := analysis.NewMoment(classes)
	var probs []float64
	for k := 0; k < draws; k++ {
		if _, _, err := probe.Run(x, y, true); err != nil {
			t.Fatal(err)
		}
		g := probe.Hooks().Point("fc2").G
		sum.AddRows64(g.F64, g.Rows, 1)
		probs = ce.Probabilities()
	}
	got := sum.Matrix(analysis.FactorOptions{})
	maxErr := 0.0
	for a := 0; a < classes; a++ {
		for b := 0; b < classes; b++ {
			want := 0.0
			for i := 0; i < n; i++ {
				p := probs[i*classes : (i+1)*classes]
				if a == b {
					want += p[a]
				}
				want -= p[a] * p[b]
			}
			want /= n
			maxErr = math.Max(maxErr, math.Abs(got.At(a, b)-want))
		}
	}
	// Monte-Carlo error of an average of draws·n bounded terms: ~1/√(draws·n) ≈ 0.006.
	if maxErr > 0.02 {
		t.Errorf("true-Fisher Σ∇h differs from its expectation by %v", maxErr)
	}
}

// Spectra are kept as .npy files, one row per analysis step, matching the records.
func TestSpectraFiles(t *testing.T) {
	dir := t.TempDir()
	runInto(t, smokeConfig(t, "analysis.append_bias=true"), dir)
	b, err := os.ReadFile(filepath.Join(dir, SpectraDir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx SpectraIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	steps, err := npy.ReadFile(filepath.Join(dir, SpectraDir, idx.Steps))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps.Shape) != 2 || steps.Shape[0] != 5 || steps.I64[2] != 4 {
		t.Fatalf("steps.npy %v %v, want 5 rows starting 0, 4, …", steps.Shape, steps.I64)
	}
	if len(idx.Files) != 6 {
		t.Fatalf("%d spectrum files, want 2 factors × 3 layers", len(idx.Files))
	}
	recs := readRecords(t, filepath.Join(dir, ConditioningFile))
	for _, f := range idx.Files {
		a, err := npy.ReadFile(filepath.Join(dir, SpectraDir, f.File))
		if err != nil {
			t.Fatal(err)
		}
		if a.Shape[0] != 5 || a.Shape[1] != f.Dim {
			t.Fatalf("%s: shape %v, want (5, %d)", f.File, a.Shape, f.Dim)
		}
		if f.Layer == "fc1" && f.Factor == FactorInput && f.Dim != 8+1 {
			t.Errorf("fc1 Σx with the bias coordinate has dim %d, want 9", f.Dim)
		}
		// Row 1 (step 4) against its record.
		for _, r := range recs {
			if r["step"] == 4.0 && r["layer"] == f.Layer && r["factor"] == f.Factor {
				if lm := r["lambda_max"].(float64); lm != a.F64[f.Dim] {
					t.Errorf("%s: λmax %v in the record, %v in the file", f.File, lm, a.F64[f.Dim])
				}
			}
		}
	}
	// Small layers carry the K-FAC fidelity.
	found := false
	for _, r := range recs {
		if r["factor"] == FactorFisher {
			if _, ok := r["kfac_rel_frobenius"]; ok {
				found = true
			}
		}
	}
	if !found {
		t.Error("no kfac_rel_frobenius in the fisher records")
	}
}

// lwca analyze on a saved state gives the records the run itself wrote at that step when it
// analyses the same fixed batch.
func TestAnalyzeMatchesInRunAnalysis(t *testing.T) {
	dir := t.TempDir()
	runInto(t, smokeConfig(t, "analysis.source=fixed", "analysis.batch_size=64", "analysis.save_weights_every=8",
		"analysis.concurrent=false"), dir)
	steps, err := SavedSteps(dir)
	if err != nil || len(steps) != 3 || steps[2] != 16 {
		t.Fatalf("saved steps %v (%v), want 0, 8, 16", steps, err)
	}
	out, err := Analyze(context.Background(), dir, AnalyzeOptions{Step: 8})
	if err != nil {
		t.Fatal(err)
	}
	inRun := map[string]map[string]any{}
	for _, r := range readRecords(t, filepath.Join(dir, ConditioningFile)) {
		if r["step"] == 8.0 {
			inRun[r["layer"].(string)+"/"+r["factor"].(string)] = r
		}
	}
	post := readRecords(t, filepath.Join(out, ConditioningFile))
	if len(post) != len(inRun) || len(post) != 9 {
		t.Fatalf("%d post-hoc records, %d in-run records at step 8, want 9", len(post), len(inRun))
	}
	for _, r := range post {
		want := inRun[r["layer"].(string)+"/"+r["factor"].(string)]
		for _, k := range []string{"lambda_max", "lambda_min", "kappa_p0.5", "trace", "kfac_rel_frobenius"} {
			if want[k] != r[k] && !(k == "kfac_rel_frobenius" && r["factor"] != FactorFisher) {
				t.Errorf("%s %s %s: post-hoc %v, in-run %v", r["layer"], r["factor"], k, r[k], want[k])
			}
		}
	}
	if _, err := os.Stat(filepath.Join(out, SpectraDir, "index.json")); err != nil {
		t.Errorf("no spectra from lwca analyze: %v", err)
	}
	if _, err := Analyze(context.Background(), dir, AnalyzeOptions{Step: 5}); err == nil {
		t.Error("analysing an unsaved step succeeded")
	}
}

// Without batch-statistics layers, a fixed analysis sample gives the same factors whether it
// passes through the network whole or in chunks, with the empirical and the true Fisher.
func TestFixedSampleChunksGiveSameFactors(t *testing.T) {
	run := func(chunk string) []map[string]any {
		dir := t.TempDir()
		runInto(t, smokeConfig(t, "model.norm=none", "analysis.source=fixed", "analysis.batch_size=120", "analysis.chunk_size="+chunk,
			"analysis.fidelity_max_params=0", "analysis.fisher=true"), dir)
		return readRecords(t, filepath.Join(dir, ConditioningFile))
	}
	whole := run("0")
	for _, chunk := range []string{"7", "40"} { // 6 and 40 samples per pass
		got := run(chunk)
		if len(got) != len(whole) || len(whole) == 0 {
			t.Fatalf("chunk %s: %d records, whole sample %d", chunk, len(got), len(whole))
		}
		for i := range whole {
			// The spectrum's bulk; the near-zero tail of a rank-deficient factor (the last
			// layer's Σ∇h has rank ≤ C−1) is float32 rounding and differs with the grouping.
			for _, k := range []string{"lambda_max", "kappa_p0.5", "energy_kappa_p0.5", "trace", "effective_rank", "stable_rank",
				"weight_norm", "grad_norm"} {
				w, ok := whole[i][k]
				if !ok {
					continue
				}
				wf := w.(float64)
				gf, _ := got[i][k].(float64)
				if math.Abs(gf-wf) > 1e-4*math.Max(1, math.Abs(wf)) {
					t.Fatalf("chunk %s, record %d (%v %v) %s: %v, whole sample %v", chunk, i, whole[i]["layer"], whole[i]["factor"], k, gf, wf)
				}
			}
		}
	}
}

// With a chunked fixed sample, K-FAC fidelity is measured on the first chunk (the same
// samples as an unchunked sample of that size), and lwca analyze reports the gradient norm of
// the whole sample's loss, the mean of the equal chunks' gradients.
func TestChunkedSampleFidelityAndGradients(t *testing.T) {
	base := []string{"model.norm=none", "analysis.source=fixed", "analysis.save_weights_every=8", "analysis.fidelity_max_params=100000"}
	fisherAt := func(dir string, step float64) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, r := range readRecords(t, filepath.Join(dir, ConditioningFile)) {
			if r["step"] == step && r["factor"] == FactorFisher {
				out[r["layer"].(string)] = r
			}
		}
		return out
	}
	chunked, first, whole := t.TempDir(), t.TempDir(), t.TempDir()
	runInto(t, smokeConfig(t, append(base, "analysis.batch_size=120", "analysis.chunk_size=40")...), chunked)
	runInto(t, smokeConfig(t, append(base, "analysis.batch_size=40")...), first)
	runInto(t, smokeConfig(t, append(base, "analysis.batch_size=120")...), whole)
	c, f := fisherAt(chunked, 8), fisherAt(first, 8)
	if len(c) == 0 {
		t.Fatal("no fisher records at step 8")
	}
	for layer, r := range c {
		got, want := r["kfac_rel_frobenius"], f[layer]["kfac_rel_frobenius"]
		if got == nil || got != want {
			t.Errorf("%s: fidelity %v on the chunked sample, %v on its first chunk alone", layer, got, want)
		}
	}
	var norms [2]map[string]map[string]any
	for i, dir := range []string{chunked, whole} {
		out, err := Analyze(context.Background(), dir, AnalyzeOptions{Step: 8, BatchSize: 120})
		if err != nil {
			t.Fatal(err)
		}
		norms[i] = fisherAt(out, 8)
	}
	for layer, r := range norms[0] {
		got, want := r["grad_norm"].(float64), norms[1][layer]["grad_norm"].(float64)
		if math.Abs(got-want) > 1e-5*want {
			t.Errorf("%s: lwca analyze grad_norm %v with chunks, %v whole", layer, got, want)
		}
	}
	_, err := Run(context.Background(), smokeConfig(t, append(base, "analysis.batch_size=127", "analysis.chunk_size=64")...), t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "analysis.chunk_size") {
		t.Errorf("a prime sample size in chunks: error %v", err)
	}
}
