package analysis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Float is a float64 that survives JSON, which has no infinities or NaN.
// Finite values are written as numbers in the shortest form that reads
// back exactly; +Inf, -Inf and NaN are written as the strings "+Inf",
// "-Inf" and "NaN", which Go's strconv.ParseFloat and Python's float()
// both read.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	x := float64(f)
	switch {
	case math.IsNaN(x):
		return []byte(`"NaN"`), nil
	case math.IsInf(x, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(x, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, x, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler. It accepts a JSON number or
// a string naming a non-finite value ("+Inf", "-Inf", "NaN", and the other
// spellings strconv.ParseFloat knows, such as "inf" or "Infinity"). As
// usual for encoding/json, null leaves f unchanged.
func (f *Float) UnmarshalJSON(data []byte) error {
	s := string(data)
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var name string
		if err := json.Unmarshal(data, &name); err != nil {
			return fmt.Errorf("analysis: Float: %v", err)
		}
		x, err := strconv.ParseFloat(name, 64)
		if err != nil || !(math.IsNaN(x) || math.IsInf(x, 0)) {
			return fmt.Errorf("analysis: Float: string %q is not +Inf, -Inf or NaN (finite values must be JSON numbers)", name)
		}
		*f = Float(x)
		return nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("analysis: Float: %q is not a finite float64", s)
	}
	*f = Float(x)
	return nil
}

// Field is one key/value pair of a Record.
type Field struct {
	Key   string
	Value any
}

// Record is a JSON object whose keys keep their order, so that the same
// values always marshal to the same bytes.
type Record []Field

// MarshalJSON writes r as a JSON object with keys in order. Values are
// marshaled with encoding/json, so float values that may be infinite
// should be given as [Float]. A repeated key is an error.
func (r Record) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	seen := make(map[string]bool, len(r))
	for i, f := range r {
		if seen[f.Key] {
			return nil, fmt.Errorf("analysis: record key %q repeated at field %d", f.Key, i)
		}
		seen[f.Key] = true
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, fmt.Errorf("analysis: record key %q: %v", f.Key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Record keys. κ_p and the energy κ use the prefixes followed by p
// formatted by [PKey]'s rule, e.g. "kappa_p0.5" and "energy_kappa_p0.9".
const (
	keyDim           = "dim"
	keyLambdaMax     = "lambda_max"
	keyLambdaMin     = "lambda_min"
	keyKappa         = "kappa"
	keyKappaP        = "kappa_p"
	keyEnergyKappaP  = "energy_kappa_p"
	keyTrace         = "trace"
	keyNumericalRank = "numerical_rank"
	keyEffectiveRank = "effective_rank"
	keyStableRank    = "stable_rank"
	keyClipped       = "clipped"
	keyMinRaw        = "min_raw"
)

// PKey returns the record key for a metric at fraction p: prefix followed
// by p in the shortest form that reads back exactly, e.g.
// PKey("kappa_p", 0.5) = "kappa_p0.5".
func PKey(prefix string, p float64) string {
	return prefix + strconv.FormatFloat(p, 'g', -1, 64)
}

// Record returns m as an ordered record with the keys dim, lambda_max,
// lambda_min, kappa, kappa_p<p>…, energy_kappa_p<p>…, trace,
// numerical_rank, effective_rank, stable_rank, clipped and min_raw.
func (m Metrics) Record() Record {
	r := Record{
		{keyDim, m.Dim},
		{keyLambdaMax, Float(m.LambdaMax)},
		{keyLambdaMin, Float(m.LambdaMin)},
		{keyKappa, Float(m.Kappa)},
	}
	for _, pv := range m.KappaP {
		r = append(r, Field{PKey(keyKappaP, pv.P), Float(pv.Value)})
	}
	for _, pv := range m.EnergyKappa {
		r = append(r, Field{PKey(keyEnergyKappaP, pv.P), Float(pv.Value)})
	}
	return append(r,
		Field{keyTrace, Float(m.Trace)},
		Field{keyNumericalRank, m.NumericalRank},
		Field{keyEffectiveRank, Float(m.EffectiveRank)},
		Field{keyStableRank, Float(m.StableRank)},
		Field{keyClipped, m.Clipped},
		Field{keyMinRaw, Float(m.MinRaw)},
	)
}

// MarshalJSON writes m as the JSON object of [Metrics.Record].
func (m Metrics) MarshalJSON() ([]byte, error) {
	return m.Record().MarshalJSON()
}

// UnmarshalJSON reads the object written by [Metrics.MarshalJSON]. κ_p and
// energy κ values keep the order of their keys; unknown keys are ignored.
func (m *Metrics) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("analysis: Metrics JSON must be an object")
	}
	var out Metrics
	ints := map[string]*int{
		keyDim:           &out.Dim,
		keyNumericalRank: &out.NumericalRank,
		keyClipped:       &out.Clipped,
	}
	reals := map[string]*float64{
		keyLambdaMax:     &out.LambdaMax,
		keyLambdaMin:     &out.LambdaMin,
		keyKappa:         &out.Kappa,
		keyTrace:         &out.Trace,
		keyEffectiveRank: &out.EffectiveRank,
		keyStableRank:    &out.StableRank,
		keyMinRaw:        &out.MinRaw,
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("analysis: Metrics JSON: %v", err)
		}
		key := tok.(string) // object keys are always strings
		var f Float
		switch {
		case ints[key] != nil:
			err = dec.Decode(ints[key])
		case reals[key] != nil:
			err = dec.Decode(&f)
			*reals[key] = float64(f)
		case strings.HasPrefix(key, keyKappaP):
			err = decodePValue(dec, key, keyKappaP, &out.KappaP)
		case strings.HasPrefix(key, keyEnergyKappaP):
			err = decodePValue(dec, key, keyEnergyKappaP, &out.EnergyKappa)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return fmt.Errorf("analysis: Metrics JSON key %q: %v", key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("analysis: Metrics JSON: %v", err)
	}
	*m = out
	return nil
}

// decodePValue appends the value of key = prefix+p to dst.
func decodePValue(dec *json.Decoder, key, prefix string, dst *[]PValue) error {
	p, err := strconv.ParseFloat(strings.TrimPrefix(key, prefix), 64)
	if err != nil || !(p > 0 && p <= 1) {
		return fmt.Errorf("want %s followed by p in (0, 1]", prefix)
	}
	var f Float
	if err := dec.Decode(&f); err != nil {
		return err
	}
	*dst = append(*dst, PValue{p, float64(f)})
	return nil
}
