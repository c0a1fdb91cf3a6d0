package rundir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lwca/lwca/results"
)

// IsRunDir reports whether dir holds a run: a summary.json or a config.yaml. A run writes
// both before its first step, so a run that failed early still counts.
func IsRunDir(dir string) bool {
	for _, f := range []string{SummaryFile, ConfigFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// ReadSummary reads summary.json of the run directory dir. A missing file gives an error
// that wraps os.ErrNotExist.
func ReadSummary(dir string) (*Summary, error) {
	var s Summary
	if err := readJSON(filepath.Join(dir, SummaryFile), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ReadSpectraIndex reads spectra/index.json of the run directory dir; Steps defaults to
// steps.npy. A run that kept no spectra gives an error that wraps os.ErrNotExist.
func ReadSpectraIndex(dir string) (*SpectraIndex, error) {
	var idx SpectraIndex
	if err := readJSON(filepath.Join(dir, SpectraDir, SpectraIndexFile), &idx); err != nil {
		return nil, err
	}
	if idx.Steps == "" {
		idx.Steps = SpectraStepsFile
	}
	return &idx, nil
}

// ReadManifest reads manifest.json of the sweep directory dir.
func ReadManifest(dir string) (*Manifest, error) {
	var m Manifest
	if err := readJSON(filepath.Join(dir, ManifestFile), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err // *fs.PathError: names the file
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ReadMetrics reads metrics.jsonl of the run directory dir, in file order. Records of other
// types are skipped (they are for other readers); a missing file reads as empty, as a run
// that failed before its first step has none.
func ReadMetrics(dir string) (train []TrainRecord, test []TestRecord, err error) {
	err = readLines(filepath.Join(dir, MetricsFile), func(line []byte) error {
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(line, &head); err != nil {
			return err
		}
		switch head.Type {
		case TypeTrain:
			var r TrainRecord
			if err := json.Unmarshal(line, &r); err != nil {
				return err
			}
			train = append(train, r)
		case TypeTest:
			var r TestRecord
			if err := json.Unmarshal(line, &r); err != nil {
				return err
			}
			test = append(test, r)
		}
		return nil
	})
	return train, test, err
}

// ReadConditioning reads conditioning.jsonl of the run directory dir, in file order (by step,
// then layer, then factor). A missing file reads as empty.
func ReadConditioning(dir string) ([]ConditioningRecord, error) {
	var out []ConditioningRecord
	err := readLines(filepath.Join(dir, ConditioningFile), func(line []byte) error {
		rec, err := ParseConditioning(line)
		if err == nil {
			out = append(out, rec)
		}
		return err
	})
	return out, err
}

// readLines calls fn with every complete, non-blank line of a JSON-lines file; a missing
// file has none.
func readLines(path string, fn func([]byte) error) error {
	err := results.ReadLog(path, func(line []byte) error {
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		return fn(line)
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
