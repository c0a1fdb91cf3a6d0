package rundir

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lwca/lwca/analysis"
)

// A record built from ConditioningHead reads back with its head, its numbers (non-finite
// ones included) and without its non-numeric fields.
func TestConditioningRoundTrip(t *testing.T) {
	rec := append(ConditioningHead(40, 2, "fc1", FactorFisher),
		analysis.Field{Key: "dim", Value: 12},
		analysis.Field{Key: "lambda_max", Value: analysis.Float(3.5)},
		analysis.Field{Key: "kappa", Value: analysis.Float(math.Inf(1))},
		analysis.Field{Key: "min_raw", Value: analysis.Float(math.Inf(-1))},
		analysis.Field{Key: "kappa_p0.5", Value: analysis.Float(math.NaN())},
		analysis.Field{Key: "note", Value: "not a number"})
	line, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseConditioning(line)
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != 40 || got.Epoch != 2 || got.Layer != "fc1" || got.Factor != FactorFisher {
		t.Errorf("head %+v", got)
	}
	if got.Value("dim") != 12 || got.Value("lambda_max") != 3.5 || !math.IsInf(got.Value("kappa"), 1) ||
		!math.IsInf(got.Value("min_raw"), -1) || !math.IsNaN(got.Value("kappa_p0.5")) {
		t.Errorf("values %v", got.Values)
	}
	if _, ok := got.Values["note"]; ok || len(got.Values) != 5 || !math.IsNaN(got.Value("absent")) {
		t.Errorf("values %v: want the five numbers only", got.Values)
	}
	for _, bad := range []string{`{"step":1,"layer":"fc1"}`, `{"step":"x","layer":"fc1","factor":"x"}`, `[1]`} {
		if _, err := ParseConditioning([]byte(bad)); err == nil {
			t.Errorf("ParseConditioning(%s) accepted it", bad)
		}
	}
}

// Metrics records read back as written, byte for byte; records of other types are skipped and
// a line cut short by a crash is ignored.
func TestReadMetrics(t *testing.T) {
	dir := t.TempDir()
	train := []TrainRecord{
		{Type: TypeTrain, Step: 0, LR: 0.1, Loss: 2.25, Accuracy: 0.125},
		{Type: TypeTrain, Step: 1, LR: 0.1, Loss: analysis.Float(math.NaN()), Accuracy: 0},
	}
	test := []TestRecord{{Type: TypeTest, Step: 1, TrainLoss: analysis.Float(math.Inf(1)), TrainAccuracy: 0.5,
		TestLoss: 1.5, TestAccuracy: 0.75}}
	var lines []string
	for _, v := range []any{train[0], map[string]any{"type": "other", "step": 0}, train[1], test[0]} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
	}
	src := strings.Join(lines, "\n") + "\n\n" + `{"type":"train","st`
	if err := os.WriteFile(filepath.Join(dir, MetricsFile), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	gotTrain, gotTest, err := ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotTrain) != 2 || len(gotTest) != 1 {
		t.Fatalf("%d train and %d test records, want 2 and 1", len(gotTrain), len(gotTest))
	}
	for i, r := range []any{gotTrain[0], gotTrain[1], gotTest[0]} {
		want := lines[[]int{0, 2, 3}[i]]
		if b, _ := json.Marshal(r); string(b) != want {
			t.Errorf("record %d re-encodes as %s, want %s", i, b, want)
		}
	}
	if tr, te, err := ReadMetrics(t.TempDir()); err != nil || tr != nil || te != nil {
		t.Errorf("missing file: %v %v %v, want empty", tr, te, err)
	}
	os.WriteFile(filepath.Join(dir, MetricsFile), []byte("{\"type\":\"train\",\"step\":\"x\"}\n"), 0o644)
	if _, _, err := ReadMetrics(dir); err == nil || !strings.Contains(err.Error(), MetricsFile+":1") {
		t.Errorf("bad record: %v, want an error naming the file and line", err)
	}
}

func TestReadConditioning(t *testing.T) {
	dir := t.TempDir()
	var b []byte
	for _, f := range Factors {
		line, _ := json.Marshal(append(ConditioningHead(0, 0, "fc1", f), analysis.Field{Key: "dim", Value: 3}))
		b = append(append(b, line...), '\n')
	}
	os.WriteFile(filepath.Join(dir, ConditioningFile), append(b, `{"step":4,"layer":"fc1","fac`...), 0o644)
	recs, err := ReadConditioning(dir)
	if err != nil {
		t.Fatal(err)
	}
	var factors []string
	for _, r := range recs {
		factors = append(factors, r.Factor)
	}
	if !slices.Equal(factors, Factors) {
		t.Errorf("factors %v, want %v", factors, Factors)
	}
	if recs, err := ReadConditioning(t.TempDir()); err != nil || recs != nil {
		t.Errorf("missing file: %v %v, want empty", recs, err)
	}
}

// summary.json, spectra/index.json and manifest.json read back as written.
func TestReadJSONFiles(t *testing.T) {
	dir := t.TempDir()
	if IsRunDir(dir) {
		t.Error("an empty directory is a run directory")
	}
	if _, err := ReadSummary(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing summary: %v", err)
	}
	if _, err := ReadSpectraIndex(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing spectra index: %v", err)
	}
	step := 7
	sum := Summary{Name: "a", Status: StatusDiverged, DivergedAtStep: &step, Steps: 8, Layers: []string{"fc1"},
		Final: Final{TrainLoss: analysis.Float(math.NaN()), TestAccuracy: 0.5}, BestTest: 0.5}
	b, _ := json.MarshalIndent(sum, "", "  ")
	os.WriteFile(filepath.Join(dir, SummaryFile), b, 0o644)
	got, err := ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b2, _ := json.MarshalIndent(got, "", "  "); string(b2) != string(b) {
		t.Errorf("summary re-encodes as\n%s\nwant\n%s", b2, b)
	}
	if !IsRunDir(dir) {
		t.Error("a directory with summary.json is not a run directory")
	}
	os.Mkdir(filepath.Join(dir, SpectraDir), 0o755)
	os.WriteFile(filepath.Join(dir, SpectraDir, SpectraIndexFile), []byte(`{"files":[{"layer":"fc1","factor":"x","file":"fc1.x.npy","dim":4}]}`), 0o644)
	idx, err := ReadSpectraIndex(dir)
	if err != nil || idx.Steps != SpectraStepsFile || len(idx.Files) != 1 || idx.Files[0].Dim != 4 {
		t.Errorf("spectra index %+v, %v", idx, err)
	}
	os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"name":"s","runs":[{"name":"lr=0.1","dir":"lr=0.1"}]}`), 0o644)
	if m, err := ReadManifest(dir); err != nil || len(m.Runs) != 1 || m.Runs[0].Dir != "lr=0.1" {
		t.Errorf("manifest %+v, %v", m, err)
	}
	os.WriteFile(filepath.Join(dir, SummaryFile), []byte("{"), 0o644)
	if _, err := ReadSummary(dir); err == nil || !strings.Contains(err.Error(), SummaryFile) {
		t.Errorf("damaged summary: %v, want an error naming the file", err)
	}
}

// Lines in the documented format, as runs of earlier builds wrote them, decode into the
// types and encode back to the same bytes: renaming a key or changing how a number is written
// would make old runs unreadable, or new ones unlike them.
func TestFormatIsStable(t *testing.T) {
	for _, c := range []struct {
		line string
		v    any
	}{
		{`{"type":"train","step":12,"epoch":1,"lr":0.1,"loss":"NaN","accuracy":0.5}`, &TrainRecord{}},
		{`{"type":"test","step":19,"epoch":1,"train_loss":0.4,"train_accuracy":0.875,"test_loss":"+Inf","test_accuracy":1e-7}`, &TestRecord{}},
		{`{"name":"mnist","status":"diverged","diverged_at_step":3,"steps":4,"epochs":0,"analysis_steps":1,"layers":["fc1"],"data":"mnist",` +
			`"final":{"train_loss":"NaN","train_accuracy":0,"test_loss":"-Inf","test_accuracy":0},"best_test_accuracy":0,` +
			`"wall_seconds":1.5,"backend":{"name":"gonum"},"config_changes":[{"step":2,"fields":["optim.lr"]}]}`, &Summary{}},
		{`{"steps":"steps.npy","files":[{"layer":"fc1","factor":"x","file":"fc1.x.npy","dim":785}],"note":"n"}`, &SpectraIndex{}},
		{`{"name":"s","source":"s.yaml","axes":[{"path":"optim.lr","values":["0.1"]}],` +
			`"runs":[{"index":0,"name":"lr=0.1","dir":"lr=0.1","config":"configs/lr=0.1.yaml","overrides":["optim.lr=0.1"]}]}`, &Manifest{}},
	} {
		if err := json.Unmarshal([]byte(c.line), c.v); err != nil {
			t.Errorf("%s: %v", c.line, err)
			continue
		}
		if b, err := json.Marshal(c.v); err != nil || string(b) != c.line {
			t.Errorf("%T encodes as\n%s (%v)\nwant\n%s", c.v, b, err, c.line)
		}
	}
	line, _ := json.Marshal(ConditioningHead(4, 0, "fc2", FactorGrad))
	if want := `{"step":4,"epoch":0,"layer":"fc2","factor":"grad"}`; string(line) != want {
		t.Errorf("conditioning head %s, want %s", line, want)
	}
	for got, want := range map[string]string{
		ConfigFile: "config.yaml", MetricsFile: "metrics.jsonl", ConditioningFile: "conditioning.jsonl",
		SummaryFile: "summary.json", SpectraDir: "spectra", SpectraIndexFile: "index.json", SpectraStepsFile: "steps.npy",
		WeightsDir: "weights", CheckpointDir: "checkpoint", AnalysisDir: "analysis", ManifestFile: "manifest.json",
		StatusRunning: "running", StatusCompleted: "completed", StatusDiverged: "diverged", StatusStopped: "stopped",
		StatusFailed: "failed", FactorX: "x", FactorGrad: "grad", FactorFisher: "fisher",
	} {
		if got != want {
			t.Errorf("%q, documented as %q", got, want)
		}
	}
}
