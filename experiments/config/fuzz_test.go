package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every failure is an
// *Error with at least one problem, and that every success survives a
// Marshal/Parse round trip unchanged. The seeds are large, so run it with
// a short -fuzzminimizetime (e.g. 2s) or minimisation dominates.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b, "")
		}
	}
	f.Add([]byte("data: {dataset: mnist}\n"), "analysis.p=[0.5,1]\nmodel.norm=batchnorm")
	f.Add([]byte("data: {dataset: mnist}\noptim: {type: adam, lr: 0.001, beta2: 0.99}\n"), "optim.eps=1e-6")
	f.Add([]byte(`data: {dataset: mnist}
model:
  layers:
    - {type: conv2d, name: c, out: 4, groups: 2}
    - type: repeat
      name: b
      n: 2
      layers:
        - type: residual
          body: [{type: conv2d, name: c, out: 4}, {type: groupnorm, name: g, groups: 2}, relu]
          shortcut: option_a
    - global_avgpool
    - {type: dropout, name: d, p: 0.1}
    - {type: linear, name: fc, out: 10}
`), "model.init=xavier")
	f.Fuzz(func(t *testing.T, src []byte, overrides string) {
		var ov []string
		if overrides != "" {
			ov = strings.Split(overrides, "\n")
		}
		c, err := Parse("f.yaml", src, ov)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 || e.Error() == "" {
				t.Fatalf("error %q (%T) carries no problems", err, err)
			}
			return
		}
		b, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		got, err := Parse("f.yaml", b, nil)
		if err != nil {
			t.Fatalf("resolved config does not parse: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(withoutPositions(got), withoutPositions(c)) {
			t.Fatalf("round trip changed the config:\n got %+v\nwant %+v", got, c)
		}
		if b2, _ := got.Marshal(); !bytes.Equal(b, b2) {
			t.Fatalf("Marshal is not stable:\n%s\n---\n%s", b, b2)
		}
	})
}
