package compare

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lwca/lwca/npy"
	"github.com/lwca/lwca/rundir"
)

func TestLoadRunReadsRecordsAndSkipsPartialLine(t *testing.T) {
	root := t.TempDir()
	s := &spec{name: "a", seed: 1, layers: 2, every: 5, steps: 23, perEpoch: 10}
	dir := s.write(t, root)
	// A crash mid-append leaves a fragment that readers must ignore.
	f, _ := os.OpenFile(filepath.Join(dir, rundir.ConditioningFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"step":25,"layer":"fc1","fac`)
	f.Close()
	r, err := LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Train) != 23 || len(r.Test) != 3 {
		t.Fatalf("read %d train and %d test records, want 23 and 3", len(r.Train), len(r.Test))
	}
	if want := 5 * 2 * 3; len(r.Records) != want { // steps 0,5,…,20 × 2 layers × 3 factors
		t.Fatalf("read %d conditioning records, want %d", len(r.Records), want)
	}
	if got := r.AnalysisSteps(); !slices.Equal(got, []int{0, 5, 10, 15, 20}) {
		t.Errorf("analysis steps %v", got)
	}
	if got := r.Layers(); !slices.Equal(got, []string{"fc1", "fc2"}) {
		t.Errorf("layers %v", got)
	}
	g := r.Series("fc2", rundir.FactorGrad)
	if v := g[0].Value("kappa_p1"); !math.IsInf(v, 1) {
		t.Errorf(`"+Inf" read as %v`, v)
	}
	if v, want := g[2].Value("lambda_max"), baseVal(s, 1, rundir.FactorGrad, "lambda_max", 10); v != want {
		t.Errorf("fc2 grad λmax at step 10 = %v, want %v", v, want)
	}
	if r.Config["model.norm"] != "none" || r.Config["analysis.p"] != "[0.5, 1]" || r.Config["seed"] != "1" {
		t.Errorf("flattened config %v", r.Config)
	}
	if r.StepsPerEpoch() != 10 || r.LastStep() != 22 {
		t.Errorf("steps per epoch %d, last step %d", r.StepsPerEpoch(), r.LastStep())
	}
	if _, err := LoadRun(root); err == nil {
		t.Error("LoadRun accepted a directory without summary.json or config.yaml")
	}
}

func TestConfigDiff(t *testing.T) {
	runs := []*Run{
		{Config: map[string]string{"name": "a", "seed": "1", "optim.lr": "0.1", "model.norm": "none"}},
		{Config: map[string]string{"name": "b", "seed": "2", "optim.lr": "0.1", "model.norm": "none"}},
		{Config: map[string]string{"name": "c", "seed": "1", "optim.lr": "1", "model.norm": "none", "x.y": "z"}},
	}
	if got := ConfigDiff(runs, NameKey); !slices.Equal(got, []string{"optim.lr", "seed", "x.y"}) {
		t.Errorf("ConfigDiff = %v", got)
	}
	groups := GroupRuns(runs)
	if len(groups) != 2 || len(groups[0].Runs) != 2 || groups[1].Runs[0] != runs[2] {
		t.Fatalf("groups %+v", groups)
	}
	if groups[0].Label != "lr=0.1,y=" || groups[1].Label != "lr=1,y=z" {
		t.Errorf("labels %q %q", groups[0].Label, groups[1].Label)
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{1, 2, math.NaN(), 6})
	if s.N != 3 || s.Mean != 3 || s.Min != 1 || s.Max != 6 || math.Abs(s.Std-math.Sqrt(7)) > 1e-15 {
		t.Errorf("Summarize = %+v, want n 3, mean 3, std √7", s)
	}
	if s := Summarize([]float64{1, math.Inf(1)}); !math.IsInf(s.Mean, 1) || !math.IsNaN(s.Std) {
		t.Errorf("with +Inf: %+v", s)
	}
	if s := Summarize(nil); s.N != 0 || !math.IsNaN(s.Mean) {
		t.Errorf("empty: %+v", s)
	}
}

// Runs of different lengths, analysis intervals and epoch sizes line up by the documented
// rule, checked against the closed form of each synthetic run.
func TestAlignmentDifferentLengthsAndIntervals(t *testing.T) {
	root := t.TempDir()
	specs := []*spec{
		{name: "a", seed: 1, layers: 1, every: 10, steps: 101, perEpoch: 40},
		{name: "b", seed: 1, layers: 1, every: 20, steps: 61, perEpoch: 40, diverged: true},
		{name: "c", seed: 1, layers: 1, every: 20, steps: 141, perEpoch: 30},
	}
	var dirs []string
	for _, s := range specs {
		dirs = append(dirs, s.write(t, root))
	}
	runs := loadAll(t, dirs...)
	for i, s := range specs {
		r := runs[i]
		for tg := -1; tg <= 150; tg++ {
			want := s.lastAnalysed(tg)
			rec := ByStep.At(r, "fc1", rundir.FactorX, tg)
			switch {
			case want < 0 && rec != nil:
				t.Errorf("run %s at step %d: got record of step %d, want none", s.name, tg, rec.Step)
			case want >= 0 && (rec == nil || rec.Step != want):
				t.Errorf("run %s at step %d: got %v, want the record of step %d", s.name, tg, rec, want)
			case rec != nil && rec.Value("lambda_max") != baseVal(s, 0, rundir.FactorX, "lambda_max", want):
				t.Errorf("run %s at step %d: wrong value", s.name, tg)
			}
		}
		// By epoch: the latest analysis within epochs ≤ e, for epochs the run finished.
		for e := 0; e < 6; e++ {
			rec := ByEpoch.At(r, "fc1", rundir.FactorX, e)
			lastOfEpoch := min((e+1)*s.perEpoch-1, s.steps-1)
			finished := !s.diverged && e*s.perEpoch <= s.steps-1 || s.diverged && lastOfEpoch < s.steps-1
			if !finished {
				if rec != nil {
					t.Errorf("run %s epoch %d: record of step %d for an unfinished epoch", s.name, e, rec.Step)
				}
				continue
			}
			want := lastOfEpoch / s.every * s.every
			if rec == nil || rec.Step != want {
				t.Errorf("run %s epoch %d: got %v, want step %d", s.name, e, rec, want)
			}
		}
	}
	// The shared grid is every 20 steps: b and c analyse no step between; a is finer. Past
	// b's last analysis (step 40) only a and c count; past a's (step 100), c alone.
	var grid []int
	for s := 0; s <= 140; s += 20 {
		grid = append(grid, s)
	}
	if got := ByStep.Targets(runs, 0); !slices.Equal(got, grid) {
		t.Errorf("targets %v, want %v", got, grid)
	}
	if got := ByStep.Targets(runs, 3); !slices.Equal(got, []int{0, 80, 140}) {
		t.Errorf("3 targets %v", got)
	}
	if got := ByEpoch.Targets(runs, 0); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("epoch targets %v", got)
	}
	// A run analysing every 7 steps up to step 28 removes 10 and 20 from a's grid, and
	// constrains nothing beyond its last analysis.
	s7 := &spec{name: "d", seed: 1, layers: 1, every: 7, steps: 30}
	runs2 := loadAll(t, dirs[0], s7.write(t, root))
	if got, want := ByStep.Targets(runs2, 0), []int{0, 30, 40, 50, 60, 70, 80, 90, 100}; !slices.Equal(got, want) {
		t.Errorf("targets %v, want %v", got, want)
	}
}

func readCSV(t *testing.T, path string) (map[string]int, [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	return col, recs[1:]
}

// groupFixture writes three seeds of one experiment (lr 0.1), one run at lr 1.0 that
// diverges, and returns the specs and directories.
func groupFixture(t *testing.T, root string) ([]*spec, []string) {
	specs := []*spec{
		{name: "lr0.1-s1", seed: 1, lr: 0.1, layers: 3, every: 10, steps: 101, perEpoch: 50},
		{name: "lr0.1-s2", seed: 2, lr: 0.1, layers: 3, every: 10, steps: 101, perEpoch: 50},
		{name: "lr0.1-s3", seed: 3, lr: 0.1, layers: 3, every: 10, steps: 101, perEpoch: 50},
		{name: "lr1-s1", seed: 1, lr: 1, layers: 3, every: 10, steps: 46, perEpoch: 50, diverged: true},
	}
	var dirs []string
	for _, s := range specs {
		dirs = append(dirs, s.write(t, root))
	}
	return specs, dirs
}

func TestTablesHoldKnownValues(t *testing.T) {
	root := t.TempDir()
	specs, dirs := groupFixture(t, root)
	rep, err := Compare(loadAll(t, dirs...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Groups) != 2 || rep.Groups[0].Label != "lr=0.1" || rep.Groups[1].Label != "lr=1" {
		t.Fatalf("groups: %v", rep.Groups)
	}
	if !slices.Equal(rep.Targets, []int{0, 30, 50, 80, 100}) {
		t.Fatalf("targets %v", rep.Targets)
	}
	out := t.TempDir()
	if err := rep.Write(out); err != nil {
		t.Fatal(err)
	}
	col, rows := readCSV(t, filepath.Join(out, "tables", "fc2_grad.csv"))
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	for gi, members := range [][]*spec{specs[:3], specs[3:]} {
		row := rows[gi]
		for _, key := range []string{"lambda_max", "kappa_p0.5"} {
			for _, tg := range rep.Targets {
				var vals []float64
				for _, s := range members {
					if a := s.lastAnalysed(tg); a >= 0 {
						vals = append(vals, baseVal(s, 1, rundir.FactorGrad, key, a))
					}
				}
				c := key + "@" + strconv.Itoa(tg)
				got := row[col[c]]
				if len(vals) == 0 {
					if got != "" {
						t.Errorf("group %d %s = %q, want empty", gi, c, got)
					}
					continue
				}
				mean, ss := 0.0, 0.0
				for _, v := range vals {
					mean += v / float64(len(vals))
				}
				for _, v := range vals {
					ss += (v - mean) * (v - mean)
				}
				if g, _ := strconv.ParseFloat(got, 64); math.Abs(g-mean) > 1e-12*math.Abs(mean) {
					t.Errorf("group %d %s = %s, want mean %v", gi, c, got, mean)
				}
				if len(members) > 1 {
					std := math.Sqrt(ss / float64(len(vals)-1))
					if g, _ := strconv.ParseFloat(row[col[c+"_std"]], 64); math.Abs(g-std) > 1e-9*std {
						t.Errorf("group %d %s std = %s, want %v", gi, c, row[col[c+"_std"]], std)
					}
				}
			}
		}
	}
	if st := rows[1][col["status"]]; st != "diverged at step 45" {
		t.Errorf("status %q", st)
	}
	if st := rows[0][col["status"]]; st != "3 completed" {
		t.Errorf("group status %q", st)
	}
	md, _ := os.ReadFile(filepath.Join(out, "tables.md"))
	if !strings.Contains(string(md), "### fc2 Σ∇h") || !strings.Contains(string(md), " ± ") {
		t.Error("tables.md lacks the fc2 Σ∇h table or mean ± std cells")
	}
	col, rows = readCSV(t, filepath.Join(out, "tables", "config_diff.csv"))
	if _, ok := col["optim.lr"]; !ok || len(rows) != 4 || rows[3][col["optim.lr"]] != "1" {
		t.Errorf("config differences: %v %v", col, rows)
	}
}

func TestFiguresHaveOneSeriesPerGroupAndRender(t *testing.T) {
	root := t.TempDir()
	_, dirs := groupFixture(t, root)
	rep, err := Compare(loadAll(t, dirs...), Options{Spread: SpreadStd})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range rep.Figures {
		names = append(names, f.Name)
	}
	if want := []string{"training", "layer_fc1", "layer_fc2", "layer_fc3", "depth_step100"}; !slices.Equal(names, want) {
		t.Fatalf("figures %v, want %v", names, want)
	}
	for _, f := range rep.Figures {
		if len(f.Legend()) != 2 {
			t.Errorf("%s: %d legend entries, want 2", f.Name, len(f.Legend()))
		}
		for _, p := range f.Panels {
			if len(p.Series) != 2 {
				t.Errorf("%s/%s: %d series, want 2", f.Name, p.Title, len(p.Series))
			}
			if p.Series[0].Lo == nil || p.Series[1].Lo != nil {
				t.Errorf("%s/%s: the 3-seed group must have a band, the single run none", f.Name, p.Title)
			}
		}
	}
	// The std band of the seed group at step 50 of fc1 Σx λmax is mean ± sample std.
	s := rep.Figures[1].Panels[0].Series[0]
	i := slices.Index(s.X, 50)
	var vals []float64
	for seed := 1; seed <= 3; seed++ {
		vals = append(vals, baseVal(&spec{seed: seed, lr: 0.1}, 0, rundir.FactorX, "lambda_max", 50))
	}
	st := Summarize(vals)
	if i < 0 || math.Abs(s.Y[i]-st.Mean) > 1e-12 || math.Abs(s.Hi[i]-(st.Mean+st.Std)) > 1e-12 {
		t.Errorf("fc1 λmax at step 50: %v ± band [%v, %v], want %v ± %v", s.Y[i], s.Lo[i], s.Hi[i], st.Mean, st.Std)
	}
	// Every run starts at loss 2: the loss axis is cut at 20.
	if y := rep.Figures[0].Panels[0].YMax; y != 20 {
		t.Errorf("training loss axis cut at %v, want 20", y)
	}
	if len(rep.Figures[2].Panels) != 6 {
		t.Errorf("layer figure has %d panels, want 3 factors × 2 metrics", len(rep.Figures[2].Panels))
	}
	for _, f := range rep.Figures[:2] {
		b, err := f.Render("png")
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if w := img.Bounds().Dx(); math.Abs(float64(w)-f.Width*110) > 2 {
			t.Errorf("%s: %d px wide, want %v in at 110 dpi", f.Name, w, f.Width)
		}
		svg, err := f.Render("svg")
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s: SVG not written: %v", f.Name, err)
		}
	}
}

func TestRenderCopesWithDegenerateData(t *testing.T) {
	f := &Figure{Name: "odd", Title: "odd", Cols: 2, Width: 6, Height: 3, Panels: []Panel{
		{Title: "nothing positive", LogY: true, Series: []Series{{Label: "a", X: []float64{0, 1}, Y: []float64{0, -1}}}},
		{Title: "one point, infinities", LogY: true, Series: []Series{{Label: "b", Color: 13, X: []float64{0, 1, 2},
			Y: []float64{math.Inf(1), 5, math.NaN()}, Lo: []float64{1, 4, 1}, Hi: []float64{2, 6, math.Inf(1)}}}},
	}}
	for _, format := range []string{"png", "svg"} {
		if _, err := f.Render(format); err != nil {
			t.Errorf("%s: %v", format, err)
		}
	}
	if _, err := f.Render("gif"); err == nil {
		t.Error("unknown format accepted")
	}
	if got := len(segments([]float64{0, 1, 2, 3, 4}, []float64{1, math.NaN(), 2, 3, -1}, true)); got != 2 {
		t.Errorf("%d segments, want 2 (a gap at the NaN, the negative value dropped)", got)
	}
}

func TestReportHTMLIsSelfContained(t *testing.T) {
	root := t.TempDir()
	_, dirs := groupFixture(t, root)
	rep, err := Compare(loadAll(t, dirs...), Options{Title: "test report"})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := rep.Write(out); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	h := string(html)
	if n := strings.Count(h, `src="data:image/png;base64,`); n != len(rep.Figures) {
		t.Errorf("%d embedded images, want %d", n, len(rep.Figures))
	}
	for _, bad := range []string{`src="http`, `<script src`, `<link rel="stylesheet"`} {
		if strings.Contains(h, bad) {
			t.Errorf("report refers to an external resource: %s", bad)
		}
	}
	for _, want := range []string{"<h1>test report</h1>", "optim.lr", "diverged at step 45", "fc3 Σ∇h", "No run shows it."} {
		if !strings.Contains(h, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, f := range rep.Figures {
		for _, ext := range []string{".png", ".svg"} {
			if _, err := os.Stat(filepath.Join(out, "figures", f.Name+ext)); err != nil {
				t.Error(err)
			}
		}
	}
}

// writeSpectra stores spectra the way runs do: spectra/index.json, steps.npy (step, epoch)
// and one appendable .npy file per layer and factor with one row per step.
func writeSpectra(t *testing.T, dir string, steps []int, layers []string, factor string, row func(step int, layer string) []float64) {
	t.Helper()
	base := filepath.Join(dir, rundir.SpectraDir)
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	type file struct {
		Layer  string `json:"layer"`
		Factor string `json:"factor"`
		File   string `json:"file"`
		Dim    int    `json:"dim"`
	}
	idx := struct {
		Steps string `json:"steps"`
		Files []file `json:"files"`
	}{Steps: "steps.npy"}
	st, err := npy.OpenAppender(filepath.Join(base, "steps.npy"), "<i8", 2)
	if err != nil {
		t.Fatal(err)
	}
	apps := map[string]*npy.Appender{}
	for _, s := range steps {
		for _, l := range layers {
			v := row(s, l)
			a := apps[l]
			if a == nil {
				name := l + "." + factor + ".npy"
				if a, err = npy.OpenAppender(filepath.Join(base, name), "<f8", len(v)); err != nil {
					t.Fatal(err)
				}
				apps[l] = a
				idx.Files = append(idx.Files, file{l, factor, name, len(v)})
			}
			if err := a.AppendRow(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.AppendRow([]int64{int64(s), 0}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range apps {
		a.Close()
	}
	st.Close()
	j, _ := json.Marshal(idx)
	writeFile(t, filepath.Join(base, "index.json"), string(j))
}

func TestSpectraDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewSpectraDir(dir).Spectrum(0, "fc1", rundir.FactorX); !errors.Is(err, ErrNoSpectrum) {
		t.Errorf("no spectra/: %v, want ErrNoSpectrum", err)
	}
	row := func(step int, layer string) []float64 {
		if layer == "fc2" {
			return []float64{float64(step), 1, 3}
		}
		return []float64{0.5, float64(step) + 10}
	}
	writeSpectra(t, dir, []int{0, 10, 20}, []string{"fc1", "fc2"}, rundir.FactorX, row)
	writeSpectra(t, filepath.Join(dir, "g"), []int{0, 10, 20}, []string{"fc1"}, rundir.FactorGrad, func(int, string) []float64 { return []float64{2, 3} })
	sd := NewSpectraDir(dir)
	got, err := sd.Spectrum(10, "fc2", rundir.FactorX)
	if err != nil || !slices.Equal(got, []float64{10, 3, 1}) {
		t.Errorf("fc2 x at step 10: %v, %v; want [10 3 1]", got, err)
	}
	if got, err := sd.Spectrum(20, "fc1", rundir.FactorX); err != nil || !slices.Equal(got, []float64{30, 0.5}) {
		t.Errorf("fc1 x at step 20: %v, %v", got, err)
	}
	for _, q := range []struct {
		step          int
		layer, factor string
	}{{5, "fc1", rundir.FactorX}, {10, "fc3", rundir.FactorX}, {10, "fc1", rundir.FactorGrad}, {10, "fc1", rundir.FactorFisher}} {
		if _, err := sd.Spectrum(q.step, q.layer, q.factor); !errors.Is(err, ErrNoSpectrum) {
			t.Errorf("%+v: %v, want ErrNoSpectrum", q, err)
		}
	}
	// F's spectrum is every product of the two factors' eigenvalues.
	os.Rename(filepath.Join(dir, "g", rundir.SpectraDir, "fc1.grad.npy"), filepath.Join(dir, rundir.SpectraDir, "fc1.grad.npy"))
	b, _ := os.ReadFile(filepath.Join(dir, rundir.SpectraDir, "index.json"))
	writeFile(t, filepath.Join(dir, rundir.SpectraDir, "index.json"),
		strings.Replace(string(b), `"files":[`, `"files":[{"layer":"fc1","factor":"grad","file":"fc1.grad.npy","dim":2},`, 1))
	got, err = NewSpectraDir(dir).Spectrum(10, "fc1", rundir.FactorFisher)
	if want := []float64{60, 40, 1.5, 1}; err != nil || !slices.Equal(got, want) {
		t.Errorf("fisher: %v, %v; want %v", got, err, want)
	}
}

func TestSpectraFigureOnlyWhenStored(t *testing.T) {
	root := t.TempDir()
	_, dirs := groupFixture(t, root)
	rep, err := Compare(loadAll(t, dirs...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Figures {
		if strings.HasPrefix(f.Name, "spectra") {
			t.Errorf("figure %s without any stored spectrum", f.Name)
		}
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "not available") }) {
		t.Errorf("no note on missing spectra: %v", rep.Notes)
	}
	// Store Σx spectra for the first run at every analysis step.
	var steps []int
	for st := 0; st <= 100; st += 10 {
		steps = append(steps, st)
	}
	writeSpectra(t, dirs[0], steps, []string{"fc1", "fc2", "fc3"}, rundir.FactorX, func(int, string) []float64 { return []float64{0.5, 4, 2, 1} })
	rep, err = Compare(loadAll(t, dirs...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fig *Figure
	for _, f := range rep.Figures {
		if f.Name == "spectra_x" {
			fig = f
		}
		if f.Name == "spectra_grad" {
			t.Error("Σ∇h spectra figure without stored Σ∇h spectra")
		}
	}
	if fig == nil {
		t.Fatal("no spectra_x figure")
	}
	if len(fig.Panels) != 3*2 {
		t.Errorf("%d panels, want 3 layers × 2 steps", len(fig.Panels))
	}
	for _, p := range fig.Panels {
		// Labelled by group, as every other figure is: the legends agree.
		if len(p.Series) != 1 || p.Series[0].Label != rep.Groups[0].Label || !slices.Equal(p.Series[0].Y, []float64{4, 2, 1, 0.5}) || p.YMin != 4e-16 {
			t.Errorf("%s: series %+v, want the first run's sorted spectrum labelled %q", p.Title, p.Series, rep.Groups[0].Label)
		}
	}
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "lr1-s1") }) {
		t.Errorf("no note naming runs left out: %v", rep.Notes)
	}
}

func TestDiscoverManifestAndParent(t *testing.T) {
	root := t.TempDir()
	sweep := filepath.Join(root, "sweep")
	(&spec{name: "lr=0.1", seed: 1, layers: 1, every: 5, steps: 10}).write(t, sweep)
	(&spec{name: "lr=1", seed: 1, layers: 1, every: 5, steps: 10}).write(t, sweep)
	m := map[string]any{"name": "sweep", "runs": []map[string]any{
		{"name": "lr=1", "dir": "lr=1"}, {"name": "lr=0.1", "dir": "lr=0.1"}, {"name": "lr=9", "dir": "lr=9"}}}
	j, _ := json.Marshal(m)
	writeFile(t, filepath.Join(sweep, rundir.ManifestFile), string(j))
	runs, warnings, err := Discover(sweep)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Label != "lr=1" || runs[1].Label != "lr=0.1" || len(warnings) != 1 || !strings.Contains(warnings[0], "lr=9") {
		t.Errorf("manifest: %d runs %v, warnings %v", len(runs), runs, warnings)
	}
	os.Remove(filepath.Join(sweep, rundir.ManifestFile))
	runs, _, err = Discover(sweep, filepath.Join(sweep, "lr=1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].Label == runs[2].Label {
		t.Errorf("parent directory: %d runs, labels must be unique: %q %q", len(runs), runs[0].Label, runs[2].Label)
	}
	if _, _, err := Discover(root + "/nothing"); err == nil {
		t.Error("Discover accepted a missing path")
	}
	if _, _, err := Discover(t.TempDir()); err == nil {
		t.Error("Discover accepted an empty directory")
	}
}
