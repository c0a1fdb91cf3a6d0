package config

import (
	"strings"
	"testing"
)

// A config without analysis.curvature marshals without the key, so its hash (resume checks)
// is what it was before the section existed; a preset round-trips.
func TestCurvatureOffByDefault(t *testing.T) {
	c := Default()
	c.Data.Dataset = DatasetMNIST
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "curvature") {
		t.Fatalf("default config mentions curvature:\n%s", b)
	}
	if c.Analysis.Curvature.Enabled() {
		t.Fatal("curvature enabled by default")
	}
	got, err := Parse("x.yaml", []byte("data:\n  dataset: mnist\nanalysis:\n  every: 10\n  curvature:\n    preset: sharpness\n    every: 30\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cc := got.Analysis.Curvature; !cc.Enabled() || cc.Preset != CurvatureSharpness || cc.Every != 30 {
		t.Fatalf("parsed %+v", cc)
	}
}

func TestCurvatureValidation(t *testing.T) {
	for _, tc := range []struct{ set, field string }{
		{"analysis.curvature.preset=everything", "analysis.curvature.preset"},
		{"analysis.curvature.every=15", "analysis.curvature.every"}, // analysis.every is 10
		{"analysis.curvature.batch_size=-1", "analysis.curvature.batch_size"},
		{"analysis.curvature.top_k=-2", "analysis.curvature.top_k"},
		{"analysis.curvature.tol=2", "analysis.curvature.tol"},
		{"analysis.curvature.nodes=-1", "analysis.curvature.nodes"},
	} {
		_, err := Parse("x.yaml", []byte("data:\n  dataset: mnist\nanalysis:\n  every: 10\n"), []string{tc.set})
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("--set %s: error %v, want one about %s", tc.set, err, tc.field)
		}
	}
}
