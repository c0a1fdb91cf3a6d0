package analysis

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestFloatRoundTrip(t *testing.T) {
	values := []float64{0, math.Copysign(0, -1), 1, -2.5, 0.1, 1.0 / 3, math.Pi, 1e21, 1e-7,
		5e-324, math.SmallestNonzeroFloat64 * 3, math.MaxFloat64, -math.MaxFloat64,
		math.Inf(1), math.Inf(-1), math.NaN()}
	for _, x := range values {
		b, err := json.Marshal(Float(x))
		if err != nil {
			t.Fatalf("%v: %v", x, err)
		}
		if !json.Valid(b) {
			t.Errorf("%v: invalid JSON %s", x, b)
		}
		var y Float
		if err := json.Unmarshal(b, &y); err != nil {
			t.Fatalf("%v: %s: %v", x, b, err)
		}
		if math.Float64bits(float64(y)) != math.Float64bits(x) && !(math.IsNaN(x) && math.IsNaN(float64(y))) {
			t.Errorf("%v: %s reads back as %v", x, b, y)
		}
	}
	for x, want := range map[float64]string{math.Inf(1): `"+Inf"`, math.Inf(-1): `"-Inf"`, math.NaN(): `"NaN"`, 0.5: `0.5`, 1e21: `1e+21`} {
		if b, _ := json.Marshal(Float(x)); string(b) != want {
			t.Errorf("Float(%v) marshals to %s, want %s", x, b, want)
		}
	}
	// Other spellings of the non-finite values are accepted; strings
	// holding finite numbers and out-of-range numbers are not.
	for in, want := range map[string]float64{`"inf"`: math.Inf(1), `"-Infinity"`: math.Inf(-1), `"Inf"`: math.Inf(1)} {
		var f Float
		if err := json.Unmarshal([]byte(in), &f); err != nil || float64(f) != want {
			t.Errorf("%s reads as %v, %v", in, f, err)
		}
	}
	for _, in := range []string{`"1.5"`, `"abc"`, `1e400`, `true`, `[1]`} {
		var f Float
		if err := json.Unmarshal([]byte(in), &f); err == nil {
			t.Errorf("%s accepted as %v", in, f)
		}
	}
	f := Float(2)
	if err := json.Unmarshal([]byte(`null`), &f); err != nil || f != 2 {
		t.Errorf("null: %v, %v, want 2 unchanged", f, err)
	}
}

// keys returns the keys of a JSON object in the order they appear.
func keys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var ks []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return ks
}

// sameMetrics compares metrics, NaN equal to NaN.
func sameMetrics(a, b Metrics) bool {
	eq := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	eqP := func(x, y []PValue) bool {
		return slices.EqualFunc(x, y, func(u, v PValue) bool { return u.P == v.P && eq(u.Value, v.Value) })
	}
	return a.Dim == b.Dim && eq(a.LambdaMax, b.LambdaMax) && eq(a.LambdaMin, b.LambdaMin) &&
		eq(a.Kappa, b.Kappa) && eqP(a.KappaP, b.KappaP) && eqP(a.EnergyKappa, b.EnergyKappa) &&
		eq(a.Trace, b.Trace) && a.NumericalRank == b.NumericalRank && eq(a.EffectiveRank, b.EffectiveRank) &&
		eq(a.StableRank, b.StableRank) && a.Clipped == b.Clipped && eq(a.MinRaw, b.MinRaw)
}

func TestMetricsJSON(t *testing.T) {
	ps := []float64{0.2, 0.5, 0.8, 1}
	for _, s := range []Spectrum{
		NewSpectrum([]float64{7.25, 3.1, 1e-9, 0, -3e-17}),
		NewSpectrum([]float64{1.0 / 3, math.Pi, math.E}),
		{},
	} {
		m := Compute(s, ps)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(m)
		if !bytes.Equal(b, again) {
			t.Errorf("marshaling is not deterministic:\n%s\n%s", b, again)
		}
		want := []string{"dim", "lambda_max", "lambda_min", "kappa",
			"kappa_p0.2", "kappa_p0.5", "kappa_p0.8", "kappa_p1",
			"energy_kappa_p0.2", "energy_kappa_p0.5", "energy_kappa_p0.8", "energy_kappa_p1",
			"trace", "numerical_rank", "effective_rank", "stable_rank", "clipped", "min_raw"}
		if got := keys(t, b); !slices.Equal(got, want) {
			t.Errorf("keys %v, want %v", got, want)
		}
		var back Metrics
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !sameMetrics(m, back) {
			t.Errorf("round trip changed metrics:\n%+v\n%+v", m, back)
		}
		// A plain decoder reads the record too, the infinities as strings.
		var generic map[string]any
		if err := json.Unmarshal(b, &generic); err != nil {
			t.Fatal(err)
		}
		if math.IsInf(m.Kappa, 1) && generic["kappa"] != "+Inf" {
			t.Errorf("kappa decodes as %v, want the string +Inf", generic["kappa"])
		}
	}
	var m Metrics
	for _, bad := range []string{`[]`, `{"kappa_pX": 1}`, `{"energy_kappa_p2": 1}`, `{"dim": "x"}`, `{"kappa": "1"}`, `{"kappa": 1`} {
		if err := json.Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := json.Unmarshal([]byte(`{"unknown": [1, {"a": 2}], "dim": 3}`), &m); err != nil || m.Dim != 3 {
		t.Errorf("unknown key: %v, dim %d", err, m.Dim)
	}
}

func TestRecordMarshal(t *testing.T) {
	r := Record{{"b", 1}, {"a", Float(math.Inf(-1))}, {"c<", "x"}, {"d", []int{1}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"b":1,"a":"-Inf","c\u003c":"x","d":[1]}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	if _, err := json.Marshal(Record{{"a", 1}, {"a", 2}}); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("repeated key: %v", err)
	}
	if _, err := json.Marshal(Record{{"a", math.NaN()}}); err == nil {
		t.Error("a raw NaN float64 was accepted")
	}
	if b, _ := json.Marshal(Record{}); string(b) != `{}` {
		t.Errorf("empty record: %s", b)
	}
}
