package compare

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lwca/lwca/rundir"
)

// curvScale is the closed form of the synthetic curvature records: BN halves every value,
// and every value doubles from step 0 to step 20.
func curvScale(norm string, step int) float64 {
	s := 1 + float64(step)/20
	if norm == "batchnorm" {
		s /= 2
	}
	return s
}

// curvFixture is plain and BN at lr 0.1 and 1, two layers, curvature records at steps 0
// and 20 (μ = 0.9: threshold 3.8/η). Layer l (1-based) has the blocks K-FAC 10·l, EF 12·l,
// GGN 8·l and H 9·l; the whole network H 30 (blocks: max 18, sum 27), GGN 20 (16, 24) and
// EF 30 (24, 36), all times curvScale. Plain at lr 1 diverges at step 30. A fifth group,
// plain at lr 0.01, has no curvature records.
func curvFixture(t *testing.T) *Report {
	t.Helper()
	root := t.TempDir()
	var dirs []string
	for _, norm := range []string{"none", "batchnorm"} {
		for _, lr := range []float64{0.1, 1} {
			s := &spec{name: norm + "-" + fmtNum(lr), seed: 1, norm: norm, lr: lr, layers: 2, every: 10, steps: 41, perEpoch: 20}
			if norm == "none" && lr == 1 {
				s.steps, s.diverged = 31, true
			}
			dir := s.write(t, root)
			var b strings.Builder
			for _, step := range []int{0, 20} {
				c := curvScale(norm, step)
				for l := 1; l <= 2; l++ {
					fmt.Fprintf(&b, `{"step":%d,"epoch":0,"layer":"fc%d","factor":"curvature","kfac_lambda_max":%g,"ef_lambda_max":%g,"ggn_lambda_max":%g,"hessian_lambda_max":%g`,
						step, l, 10*float64(l)*c, 12*float64(l)*c, 8*float64(l)*c, 9*float64(l)*c)
					for _, n := range []struct {
						key           string
						full, max, sm float64
					}{{"network_hessian", 30, 18, 27}, {"network_ggn", 20, 16, 24}, {"network_ef", 30, 24, 36}} {
						fmt.Fprintf(&b, `,"%s_lambda_max":%g,"%s_block_lambda_max_max":%g,"%s_block_lambda_max_sum":%g`,
							n.key, n.full*c, n.key, n.max*c, n.key, n.sm*c)
					}
					fmt.Fprintf(&b, `,"network_stability_threshold":%g,"network_sharpness_ratio":%g}`+"\n", 3.8/lr, lr*30*c/3.8)
				}
			}
			f, err := os.OpenFile(filepath.Join(dir, rundir.ConditioningFile), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(b.String()); err != nil {
				t.Fatal(err)
			}
			f.Close()
			dirs = append(dirs, dir)
		}
	}
	// A fifth run without curvature records: the curvature views leave it out.
	bare := &spec{name: "none-0.01", seed: 1, norm: "none", lr: 0.01, layers: 2, every: 10, steps: 41, perEpoch: 20}
	dirs = append(dirs, bare.write(t, root))
	rep, err := Compare(loadAll(t, dirs...), Options{Targets: []int{0, 20}})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// find returns the item of items called name.
func find[T any](t *testing.T, items []T, nameOf func(T) string, name string) T {
	t.Helper()
	for _, it := range items {
		if nameOf(it) == name {
			return it
		}
	}
	t.Fatalf("no %s", name)
	var zero T
	return zero
}

func findTable(t *testing.T, rep *Report, name string) *Table {
	return find(t, rep.Tables, func(tb *Table) string { return tb.Name }, name)
}

func findFigure(t *testing.T, rep *Report, name string) *Figure {
	return find(t, rep.Figures, func(f *Figure) string { return f.Name }, name)
}

// cellOf returns the mean of the cell in the row whose first cells read keys and the column
// of key.
func cellOf(t *testing.T, tb *Table, col string, keys ...string) float64 {
	t.Helper()
	j := -1
	for i, c := range tb.Columns {
		if c.Key == col {
			j = i
		}
	}
	if j < 0 {
		t.Fatalf("table %s has no column %s", tb.Name, col)
	}
rows:
	for _, r := range tb.Rows {
		for i, k := range keys {
			if r[i].Text != k {
				continue rows
			}
		}
		if r[j].Stat == nil {
			t.Fatalf("table %s row %v column %s is text %q", tb.Name, keys, col, r[j].Text)
		}
		return r[j].Stat.Mean
	}
	t.Fatalf("table %s has no row %v", tb.Name, keys)
	return 0
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestCurvatureTablesHoldKnownValues(t *testing.T) {
	rep := curvFixture(t)
	st := findTable(t, rep, "curvature_stability")
	// Plain at lr 1: the largest block is layer 2 at step 20; K-FAC 10·2·2 = 40 over the
	// threshold 3.8; the whole-network H 30·2 = 60.
	for _, c := range []struct {
		group, key string
		want       float64
	}{
		{"norm=none,lr=1", "kfac_lambda_max", 40 / 3.8},
		{"norm=none,lr=1", "hessian_lambda_max", 36 / 3.8},
		{"norm=none,lr=1", "network_hessian_lambda_max", 60 / 3.8},
		{"norm=batchnorm,lr=0.1", "ef_lambda_max", 0.1 * 24 / 3.8},
		{"norm=batchnorm,lr=1", "ggn_lambda_max", 16 / 3.8},
	} {
		if got := cellOf(t, st, "max_ratio_"+c.key, c.group); !near(got, c.want) {
			t.Errorf("%s %s: largest ratio %v, want %v", c.group, c.key, got, c.want)
		}
	}
	if got := cellOf(t, st, "lr", "norm=batchnorm,lr=1"); got != 1 {
		t.Errorf("lr column %v, want 1", got)
	}
	for _, name := range []string{"curvature_stability", "fc1_curvature", "network_curvature"} {
		for _, r := range findTable(t, rep, name).Rows {
			if r[0].Text == "norm=none,lr=0.01" {
				t.Errorf("table %s lists the group without curvature records", name)
			}
		}
	}
	fc2 := findTable(t, rep, "fc2_curvature")
	if got := cellOf(t, fc2, "kfac_lambda_max@20", "norm=none,lr=0.1"); got != 40 {
		t.Errorf("fc2 K-FAC λmax@20 = %v, want 40", got)
	}
	if got := cellOf(t, fc2, "hessian_lambda_max@0", "norm=batchnorm,lr=0.1"); got != 9 {
		t.Errorf("fc2 H λmax@0 (BN) = %v, want 9", got)
	}
	net := findTable(t, rep, "network_curvature")
	for _, c := range []struct {
		matrix, col string
		want        float64
	}{
		{"H", "lambda_max@0", 30}, {"H", "block_lambda_max_max@0", 18}, {"H", "block_lambda_max_sum@20", 54},
		{"GGN", "block_lambda_max_max@20", 32}, {"EF", "block_lambda_max_sum@0", 36}, {"H", "sharpness_ratio@20", 0.1 * 60 / 3.8},
	} {
		if got := cellOf(t, net, c.col, "norm=none,lr=0.1", c.matrix); !near(got, c.want) {
			t.Errorf("network %s %s = %v, want %v", c.matrix, c.col, got, c.want)
		}
	}
}

func TestCurvatureFiguresHoldKnownValues(t *testing.T) {
	rep := curvFixture(t)
	blocks := findFigure(t, rep, "curvature_blocks")
	if len(blocks.Panels) != 2*len(blockKinds) {
		t.Fatalf("blocks figure: %d panels, want %d", len(blocks.Panels), 2*len(blockKinds))
	}
	ef1 := blocks.Panels[1] // fc1 EF
	if ef1.Title != "fc1 EF" || len(rep.Groups) != 5 || len(ef1.Series) != 4 {
		t.Fatalf("panel %q with %d series", ef1.Title, len(ef1.Series))
	}
	if s := ef1.Series[0]; s.Label != rep.Groups[0].Label || len(s.Y) != 2 || s.Y[0] != 12 || s.Y[1] != 24 || s.X[1] != 20 {
		t.Errorf("fc1 EF of %s: x %v y %v, want 12, 24 at 0, 20", s.Label, s.X, s.Y)
	}
	// A row shares its vertical axis: the range of all four of fc2's blocks.
	row := blocks.Panels[len(blockKinds):]
	for _, p := range row {
		// BN's GGN at step 0 and plain's EF at step 20 span the row.
		if lo, hi := p.yRange(); lo != 8 || hi != 48 {
			t.Errorf("%s: y range %v–%v, want the row's 8–48", p.Title, lo, hi)
		}
	}

	net := findFigure(t, rep, "curvature_network")
	// Rows: λmax; λmax / max block; λmax / Σ blocks. Columns H, GGN, EF.
	for i, want := range []float64{30, 20, 30, 30.0 / 18, 20.0 / 16, 30.0 / 24, 30.0 / 27, 20.0 / 24, 30.0 / 36} {
		p := net.Panels[i]
		want20 := want // the ratios do not change; λmax doubles
		if i < 3 {
			want20 = 2 * want
		}
		if s := p.Series[0]; !near(s.Y[0], want) || !near(s.Y[1], want20) {
			t.Errorf("network panel %q: %v, want %v, %v", p.Title, s.Y, want, want20)
		}
		if (i >= 3) != (p.RefY == 1) {
			t.Errorf("network panel %q: reference line %v", p.Title, p.RefY)
		}
	}

	sh := findFigure(t, rep, "sharpness")
	if r := sh.Panels[1]; r.RefY != 1 || !near(r.Series[1].Y[1], 60/3.8) {
		t.Errorf("sharpness ratio of %s: %v (RefY %v), want 60/3.8 at step 20", r.Series[1].Label, r.Series[1].Y, r.RefY)
	}

	stab := findFigure(t, rep, "curvature_stability")
	if len(stab.Panels) != 2*len(stabilityKinds) {
		t.Fatalf("stability figure: %d panels", len(stab.Panels))
	}
	hDiv, hOK := stab.Panels[len(stab.Panels)-2], stab.Panels[len(stab.Panels)-1] // whole-network H
	// Every panel has a series per group (those of the other column empty), so that the
	// legend lists the groups in their order.
	points := func(p Panel) (n int) {
		for _, s := range p.Series {
			n += len(s.X)
		}
		return n
	}
	if s := hDiv.Series[1]; len(hDiv.Series) != 4 || points(hDiv) != 1 || s.Label != "norm=none,lr=1" || s.X[0] != 0 || !near(s.Y[0], 60/3.8) {
		t.Errorf("diverged H panel: %+v", hDiv.Series)
	}
	if points(hOK) != 3 || hOK.RefY != 1 || hDiv.XMin != hOK.XMin || hDiv.XMax != hOK.XMax {
		t.Errorf("surviving H panel: %d points, RefY %v, x %v–%v vs %v–%v", points(hOK), hOK.RefY, hOK.XMin, hOK.XMax, hDiv.XMin, hDiv.XMax)
	}
	if l := stab.Legend(); len(l) != 4 || l[0].Label != rep.Groups[0].Label || l[3].Label != rep.Groups[3].Label {
		t.Errorf("legend %v, want the groups in order", l)
	}
	for _, s := range hOK.Series {
		if s.Label == "norm=batchnorm,lr=1" && (!near(s.Y[0], 30/3.8) || s.X[0] != 0) {
			t.Errorf("BN lr 1: %v at %v, want 30/3.8 at 0", s.Y, s.X)
		}
	}
	for _, f := range []*Figure{blocks, net, sh, stab} {
		for _, p := range f.Panels {
			if p.XLabel == "" || p.YLabel == "" {
				t.Errorf("%s / %s: axis without label", f.Name, p.Title)
			}
		}
		if _, err := f.Render("svg"); err != nil {
			t.Error(err)
		}
	}
	// One legend label per group, the group's label as everywhere else.
	for _, e := range stab.Legend() {
		if !strings.HasPrefix(e.Label, "norm=") {
			t.Errorf("legend entry %q is no group", e.Label)
		}
	}
}

// (Its name holds no "curvature": the page lists the run directories, under the test's.)
func TestNoCurvViewsWithoutTheirRecords(t *testing.T) {
	rep := normFixture(t)
	for _, tb := range rep.Tables {
		if strings.Contains(tb.Name, "curvature") {
			t.Errorf("table %s without curvature records", tb.Name)
		}
	}
	for _, f := range rep.Figures {
		if strings.Contains(f.Name, "curvature") || f.Name == "sharpness" {
			t.Errorf("figure %s without curvature records", f.Name)
		}
	}
	html, err := rep.HTML(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Curvature", "curvature_", "sharpness", "reference line"} {
		if strings.Contains(string(html), s) {
			t.Errorf("the page shows %q without curvature records", s)
		}
	}
}

func TestCurvatureInReportPage(t *testing.T) {
	rep := curvFixture(t)
	html, err := rep.HTML(nil)
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	for _, m := range regexp.MustCompile(`href="#([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if strings.Count(page, `id="`+m[1]+`"`) != 1 {
			t.Errorf("contents link #%s leads to %d places", m[1], strings.Count(page, `id="`+m[1]+`"`))
		}
	}
	// The stability table is part of the summary, before the runs.
	if s, r := strings.Index(page, "Curvature against the stability threshold</h3>"), strings.Index(page, `<h2 id="runs">`); s < 0 || s > r {
		t.Errorf("curvature summary at %d, runs at %d", s, r)
	}
	for _, id := range []string{"table-fc1_curvature", "table-fc2_curvature", "table-network_curvature"} {
		if !strings.Contains(page, `<details id="`+id+`">`) || !strings.Contains(page, `href="#`+id+`"`) {
			t.Errorf("table %s is not folded with a contents entry", id)
		}
	}
	for _, name := range []string{"curvature_blocks", "curvature_network", "sharpness", "curvature_stability"} {
		if !strings.Contains(page, `href="#fig-`+name+`"`) {
			t.Errorf("figure %s has no contents entry", name)
		}
	}
}

// The threshold line and a row's shared range widen the vertical axis; an empty panel stays
// empty.
func TestReferenceLineAndSharedRangeStayInView(t *testing.T) {
	p := Panel{LogY: true, RefY: 1, YInclude: []float64{3, 40}, Series: []Series{{X: []float64{0, 1}, Y: []float64{2, 5}}}}
	if lo, hi := p.yRange(); lo != 1 || hi != 40 {
		t.Errorf("y range %v–%v, want 1–40", lo, hi)
	}
	p.RefY, p.YInclude = -1, []float64{0.5} // a negative height has no place on a log axis
	if lo, hi := p.yRange(); lo != 0.5 || hi != 5 {
		t.Errorf("y range %v–%v, want 0.5–5", lo, hi)
	}
	empty := Panel{LogY: true, RefY: 1}
	if lo, hi := empty.yRange(); lo <= hi {
		t.Errorf("a panel without values has the range %v–%v", lo, hi)
	}
	f := &Figure{Name: "ref", Width: 4, Height: 3, Panels: []Panel{p, empty}, Cols: 2}
	if _, err := f.Render("png"); err != nil {
		t.Fatal(err)
	}
}
