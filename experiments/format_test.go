package experiments

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lwca/lwca/results"
	"github.com/lwca/lwca/rundir"
)

// What a run writes reads back through rundir's types and readers: metrics records and
// summary.json re-encode to the very bytes on disk, conditioning records keep every number,
// and the spectra index lists each layer's x and grad factors.
func TestRunReadsBackThroughRundir(t *testing.T) {
	dir := t.TempDir()
	sum := runInto(t, smokeConfig(t), dir)

	onDisk, err := os.ReadFile(filepath.Join(dir, rundir.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := rundir.ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.MarshalIndent(got, "", "  "); !bytes.Equal(append(b, '\n'), onDisk) {
		t.Errorf("summary.json re-encodes as\n%s\nwant\n%s", b, onDisk)
	}
	if got.Status != rundir.StatusCompleted || got.Steps != sum.Steps {
		t.Errorf("summary %+v", got)
	}

	train, test, err := rundir.ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	var reencoded []byte
	ti, ei := 0, 0
	err = results.ReadLog(filepath.Join(dir, rundir.MetricsFile), func(line []byte) error {
		var v any
		if bytes.Contains(line, []byte(`"type":"train"`)) {
			v, ti = train[ti], ti+1
		} else {
			v, ei = test[ei], ei+1
		}
		b, err := json.Marshal(v)
		reencoded = append(append(reencoded, b...), '\n')
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if metrics, _ := os.ReadFile(filepath.Join(dir, rundir.MetricsFile)); !bytes.Equal(reencoded, metrics) {
		t.Errorf("metrics.jsonl re-encodes as\n%s\nwant\n%s", reencoded, metrics)
	}
	if len(train) != sum.Steps || len(test) != 2 {
		t.Errorf("%d train and %d test records, want %d and 2", len(train), len(test), sum.Steps)
	}

	recs, err := rundir.ReadConditioning(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw := readRecords(t, filepath.Join(dir, rundir.ConditioningFile))
	if len(recs) != len(raw) || len(recs) != sum.AnalysisSteps*len(sum.Layers)*len(rundir.Factors) {
		t.Fatalf("%d records read, %d on disk, want %d", len(recs), len(raw), sum.AnalysisSteps*len(sum.Layers)*len(rundir.Factors))
	}
	for i, rec := range recs {
		r := raw[i]
		if float64(rec.Step) != r["step"] || float64(rec.Epoch) != r["epoch"] || rec.Layer != r["layer"] || rec.Factor != r["factor"] {
			t.Fatalf("record %d: head %d %d %s %s, on disk %v", i, rec.Step, rec.Epoch, rec.Layer, rec.Factor, r)
		}
		n := 0
		for k, v := range r {
			if k == "step" || k == "epoch" {
				continue
			}
			switch v := v.(type) {
			case float64:
				n++
				if rec.Value(k) != v {
					t.Errorf("record %d: %s = %v, on disk %v", i, k, rec.Value(k), v)
				}
			case string: // non-finite numbers are written as strings
				if want, ok := map[string]float64{"+Inf": math.Inf(1), "-Inf": math.Inf(-1)}[v]; ok {
					n++
					if rec.Value(k) != want {
						t.Errorf("record %d: %s = %v, on disk %q", i, k, rec.Value(k), v)
					}
				} else if v == "NaN" {
					n++
					if !math.IsNaN(rec.Value(k)) {
						t.Errorf("record %d: %s = %v, on disk NaN", i, k, rec.Value(k))
					}
				}
			}
		}
		if n != len(rec.Values) {
			t.Errorf("record %d: %d values read, %d numbers on disk", i, len(rec.Values), n)
		}
	}

	idx, err := rundir.ReadSpectraIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Files) != 2*len(sum.Layers) {
		t.Errorf("spectra index lists %d files, want x and grad of %d layers", len(idx.Files), len(sum.Layers))
	}
	for _, f := range idx.Files {
		if _, err := os.Stat(filepath.Join(dir, rundir.SpectraDir, f.File)); err != nil || (f.Factor != rundir.FactorX && f.Factor != rundir.FactorGrad) {
			t.Errorf("spectra file %+v: %v", f, err)
		}
	}
}
