package hooks_test

import (
	"testing"

	"github.com/lwca/lwca/hooks"
)

// Captures record X as given and G times GradScale, only while the set is enabled and the
// point selected; a nil point (evaluation graphs) records nothing.
func TestCaptureSemantics(t *testing.T) {
	set := hooks.NewSet()
	p, err := set.Add("fc", 4)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := set.Add("other", 4)
	x := []float64{1, 2, 3, 4, 5, 6}
	if hooks.CaptureInput(p, x, 3, 2) || p.X.Valid() {
		t.Fatal("captured while the set is disabled")
	}
	if hooks.CaptureInput[float64](nil, x, 3, 2) || hooks.InputBuffer[float64](nil, 3, 2) != nil {
		t.Fatal("a nil point captured")
	}
	set.Enable(true)
	if err := set.Select([]string{"other"}); err != nil {
		t.Fatal(err)
	}
	if hooks.CaptureInput(p, x, 3, 2) {
		t.Fatal("captured for a point left out of the selection")
	}
	if err := set.Select(nil); err != nil {
		t.Fatal(err)
	}
	if !hooks.CaptureInput(p, x, 3, 2) || !hooks.CaptureOutputGrad(p, x[:4], 2, 2) {
		t.Fatal("no capture while enabled")
	}
	if p.X.Rows != 3 || p.X.Cols != 2 || p.G.Rows != 2 || p.G.Cols != 2 {
		t.Fatalf("X %d×%d, G %d×%d", p.X.Rows, p.X.Cols, p.G.Rows, p.G.Cols)
	}
	for i, v := range x {
		if p.X.F64[i] != v {
			t.Fatalf("X[%d] = %v, want %v", i, p.X.F64[i], v)
		}
	}
	for i, v := range x[:4] {
		if p.G.F64[i] != 4*v {
			t.Fatalf("G[%d] = %v, want N·%v", i, p.G.F64[i], v)
		}
	}
	if q.X.Valid() {
		t.Fatal("a point captured another's data")
	}
}

// Large captures are split between workers; the result is the element-wise product all the
// same, in float32 as in float64.
func TestCaptureLarge(t *testing.T) {
	set := hooks.NewSet()
	p, _ := set.Add("conv", 3)
	set.Enable(true)
	const rows, cols = 1000, 301
	d := make([]float32, rows*cols)
	for i := range d {
		d[i] = float32(i%977) / 7
	}
	hooks.CaptureOutputGrad(p, d, rows, cols)
	buf := hooks.InputBuffer[float32](p, rows, cols)
	copy(buf, d)
	for i, v := range d {
		if p.G.F32[i] != v*3 || p.X.F32[i] != v {
			t.Fatalf("G[%d] = %v, X[%d] = %v; want %v and %v", i, p.G.F32[i], i, p.X.F32[i], v*3, v)
		}
	}
	if p.G.F64 != nil || p.X.Rows != rows || p.X.Cols != cols {
		t.Fatal("float32 capture left float64 data or a wrong shape")
	}
}
