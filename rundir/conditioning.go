package rundir

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/lwca/lwca/analysis"
)

// ConditioningHead returns the fields that open every conditioning.jsonl record, in the
// order they are written; a record's metrics follow them. Writers build records from it so
// that ParseConditioning finds the keys it reads.
func ConditioningHead(step, epoch int, layer, factor string) analysis.Record {
	return analysis.Record{{Key: "step", Value: step}, {Key: "epoch", Value: epoch},
		{Key: "layer", Value: layer}, {Key: "factor", Value: factor}}
}

// ConditioningRecord is one line of conditioning.jsonl: the metrics of one factor of one
// layer at one analysis step. The metric keys depend on the analysis options ("kappa_p0.5",
// "kfac_rel_frobenius", …), so Values holds every numeric field by its key, with "+Inf",
// "-Inf" and "NaN" strings read as those values.
type ConditioningRecord struct {
	Step, Epoch   int
	Layer, Factor string
	Values        map[string]float64
}

// Value returns the value of key, or NaN if the record has none.
func (r *ConditioningRecord) Value(key string) float64 {
	if v, ok := r.Values[key]; ok {
		return v
	}
	return math.NaN()
}

// ParseConditioning reads one line of conditioning.jsonl. Fields that are not numbers are
// left out of Values; a record without a layer or factor is an error.
func ParseConditioning(line []byte) (ConditioningRecord, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return ConditioningRecord{}, err
	}
	rec := ConditioningRecord{Values: make(map[string]float64, len(raw))}
	for k, v := range raw {
		var err error
		switch k {
		case "step":
			err = json.Unmarshal(v, &rec.Step)
		case "epoch":
			err = json.Unmarshal(v, &rec.Epoch)
		case "layer":
			err = json.Unmarshal(v, &rec.Layer)
		case "factor":
			err = json.Unmarshal(v, &rec.Factor)
		default:
			var f analysis.Float
			if json.Unmarshal(v, &f) == nil {
				rec.Values[k] = float64(f)
			} // not a number: a field this reader has no use for
		}
		if err != nil {
			return ConditioningRecord{}, fmt.Errorf("key %q: %w", k, err)
		}
	}
	if rec.Layer == "" || rec.Factor == "" {
		return ConditioningRecord{}, errors.New("conditioning record without layer or factor")
	}
	return rec, nil
}
