package compare

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"sync"

	"codeberg.org/go-fonts/dejavu/dejavusans"
	"golang.org/x/image/font/opentype"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// palette is a qualitative color set that stays distinguishable for common color-vision
// deficiencies; series beyond its length reuse colors with other dashes.
var palette = []color.NRGBA{
	{0x4e, 0x79, 0xa7, 0xff}, {0xf2, 0x8e, 0x2b, 0xff}, {0xe1, 0x57, 0x59, 0xff},
	{0x76, 0xb7, 0xb2, 0xff}, {0x59, 0xa1, 0x4f, 0xff}, {0xed, 0xc9, 0x48, 0xff},
	{0xb0, 0x7a, 0xa1, 0xff}, {0xff, 0x9d, 0xa7, 0xff}, {0x9c, 0x75, 0x5f, 0xff},
	{0x79, 0x70, 0x6e, 0xff},
}

// dashes mark the value of the compared setting (solid, dashed, dotted, dash-dot), so that
// figures still tell the settings apart in greyscale.
var dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(1.5), vg.Points(2)}, {vg.Points(7), vg.Points(2), vg.Points(1.5), vg.Points(2)}}

// glyphs mark points in the same order as dashes.
var glyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.BoxGlyph{}, draw.CrossGlyph{}, draw.RingGlyph{}}

func lineStyle(c, dash int) draw.LineStyle {
	return draw.LineStyle{
		Color:  palette[c%len(palette)],
		Width:  vg.Points(1.4),
		Dashes: dashes[(dash+c/len(palette))%len(dashes)],
	}
}

func glyphStyle(c, dash int) draw.GlyphStyle {
	return draw.GlyphStyle{Color: palette[c%len(palette)], Radius: vg.Points(2.5),
		Shape: glyphs[(dash+c/len(palette))%len(glyphs)]}
}

// limitedGlyph marks a rank-limited κ: a triangle pointing past the values, open
// or filled by the dash of the series, so that it tells settings apart in greyscale too.
func limitedGlyph(c, dash int) draw.GlyphStyle {
	var shape draw.GlyphDrawer = draw.TriangleGlyph{}
	if dash%2 == 1 {
		shape = draw.PyramidGlyph{}
	}
	return draw.GlyphStyle{Color: palette[c%len(palette)], Radius: vg.Points(3.5), Shape: shape}
}

func bandColor(i int) color.Color {
	c := palette[i%len(palette)]
	c.A = 0x38
	return c
}

// figureFont is DejaVu Sans: gonum/plot's default, Liberation, has no ∇ (nor ⊗), and the
// figures must name Σ∇h as the text does.
var figureFont = font.Font{Typeface: "DejaVu", Variant: "Sans"}

var registerFont = sync.OnceValue(func() error {
	face, err := opentype.Parse(dejavusans.TTF)
	if err != nil {
		return err
	}
	font.DefaultCache.Add(font.Collection{{Font: figureFont, Face: face}})
	return nil
})

func fontOf(size vg.Length) font.Font { return font.From(figureFont, size) }

// Render draws f as "png" or "svg" and returns the file's bytes.
func (f *Figure) Render(format string) ([]byte, error) {
	if err := registerFont(); err != nil {
		return nil, fmt.Errorf("compare: figure font: %w", err)
	}
	w, h := vg.Length(f.Width)*vg.Inch, vg.Length(f.Height)*vg.Inch
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("compare: figure %s has no size", f.Name)
	}
	var (
		c  vg.CanvasWriterTo
		dc draw.Canvas
	)
	switch format {
	case "png":
		img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))
		c = vgimg.PngCanvas{Canvas: img}
		dc = draw.New(img)
	case "svg":
		s := vgsvg.New(w, h)
		c = s
		dc = draw.New(s)
	default:
		return nil, fmt.Errorf("compare: unknown figure format %q (png or svg)", format)
	}
	if err := f.draw(dc); err != nil {
		return nil, fmt.Errorf("compare: figure %s: %w", f.Name, err)
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("compare: figure %s: %w", f.Name, err)
	}
	return b.Bytes(), nil
}

// limitedLabel is the legend entry of the rank-limited mark.
const limitedLabel = "κ rank-limited (no value)"

func (f *Figure) draw(dc draw.Canvas) (err error) {
	defer func() {
		// gonum/plot panics on inputs it cannot scale; a figure must not take the report down.
		if r := recover(); r != nil {
			err = fmt.Errorf("drawing failed: %v", r)
		}
	}()
	titleStyle := draw.TextStyle{Color: color.Black, Font: fontOf(13), Handler: plot.DefaultTextHandler,
		XAlign: draw.XCenter, YAlign: draw.YTop}
	top := vg.Length(0)
	if f.Title != "" {
		top = titleStyle.Height(f.Title) + vg.Points(8)
		dc.FillText(titleStyle, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y - vg.Points(4)}, f.Title)
	}
	legend := f.Legend()
	limited := f.HasLimited()
	newLegend := func() plot.Legend {
		l := plot.NewLegend()
		l.TextStyle.Font = fontOf(10)
		l.ThumbnailWidth = vg.Points(28) // long enough to show a dash pattern
		return l
	}
	lw := vg.Length(0)
	if len(legend) > 0 {
		l := newLegend()
		for _, e := range legend {
			lw = max(lw, l.TextStyle.Width(e.Label))
		}
		if limited {
			lw = max(lw, l.TextStyle.Width(limitedLabel))
		}
		lw = min(lw+l.ThumbnailWidth+vg.Points(16), (dc.Max.X-dc.Min.X)/3)
	}
	cols := max(f.Cols, 1)
	rows := (len(f.Panels) + cols - 1) / cols
	area := draw.Crop(dc, 0, -lw, 0, -top)
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, p := range f.Panels {
		pl, err := p.plot()
		if err != nil {
			return err
		}
		plots[i/cols][i%cols] = pl
	}
	if rows > 0 {
		tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(10), PadY: vg.Points(10),
			PadTop: vg.Points(2), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(4)}
		canvases := plot.Align(plots, tiles, area)
		for i := range plots {
			for j := range plots[i] {
				if plots[i][j] != nil {
					plots[i][j].Draw(canvases[i][j])
				}
			}
		}
	}
	if lw > 0 {
		l := newLegend()
		l.Top, l.Left = true, true
		for _, e := range legend {
			l.Add(e.Label, &plotter.Line{LineStyle: lineStyle(e.Color, e.Dash)})
		}
		if limited {
			l.Add(limitedLabel, &plotter.Scatter{GlyphStyle: limitedGlyph(len(palette)-1, 0)})
		}
		lc := draw.Crop(dc, dc.Max.X-dc.Min.X-lw+vg.Points(6), 0, 0, -top-vg.Points(8))
		l.Draw(lc)
	}
	return nil
}

// yRange returns the drawable extent of the panel's values, within YMin and YMax.
func (p *Panel) yRange() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range p.Series {
		for _, ys := range [][]float64{s.Y, s.Lo, s.Hi} {
			for _, y := range ys {
				if drawable(y, p.LogY) {
					lo, hi = math.Min(lo, y), math.Max(hi, y)
				}
			}
		}
	}
	if lo <= hi { // the reference line and the shared range stay in view
		for _, y := range append([]float64{p.RefY}, p.YInclude...) {
			if y != 0 && drawable(y, p.LogY) {
				lo, hi = math.Min(lo, y), math.Max(hi, y)
			}
		}
	}
	if p.YMin != 0 {
		lo = math.Max(lo, p.YMin)
	}
	if p.YMax != 0 {
		hi = math.Min(hi, p.YMax)
	}
	return lo, hi
}

// xRange returns the horizontal axis of the panel: XMin–XMax when set, else the extent
// of the x values, widened when it is a single point.
func (p *Panel) xRange() (lo, hi float64, ok bool) {
	if p.XMin != 0 || p.XMax != 0 {
		// A little room on the right keeps a marker at the last step whole.
		return p.XMin, p.XMax + 0.02*(p.XMax-p.XMin), true
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range p.Series {
		for _, x := range append(append([]float64(nil), s.X...), s.Limited...) {
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				lo, hi = math.Min(lo, x), math.Max(hi, x)
			}
		}
	}
	if lo > hi {
		return 0, 0, false
	}
	lo, hi = padRange(lo, hi)
	if p.IntX && lo < 0 && hi > 0 && lo >= -1 {
		lo = 0 // steps and indices start at 0 or 1
	}
	return lo, hi, true
}

// padRange widens [lo, hi] by 5 % on each side, and a single value by 5 % of its size (at
// least 0.05), so that a point or a flat line sits inside the axis rather than on an edge.
func padRange(lo, hi float64) (float64, float64) {
	if hi > lo {
		d := 0.05 * (hi - lo)
		return lo - d, hi + d
	}
	d := math.Max(0.05*math.Abs(lo), 0.05)
	return lo - d, hi + d
}

// plot builds the gonum plot of a panel.
func (p *Panel) plot() (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.Title.TextStyle.Font = fontOf(11)
	pl.X.Label.Text, pl.Y.Label.Text = p.XLabel, p.YLabel
	for _, a := range []*plot.Axis{&pl.X, &pl.Y} {
		a.Label.TextStyle.Font = fontOf(10)
		a.Tick.Label.Font = fontOf(9)
		a.Tick.Marker = linearTicks{}
	}
	pl.Add(plotter.NewGrid())
	logY := p.LogY
	ymin, ymax := p.yRange()
	empty := ymin > ymax
	if empty {
		logY = false
		if p.hasLimited() {
			// Every point is rank-limited: the marks sit on an axis without values.
			pl.Title.Text += " (rank-limited throughout)"
			pl.Y.Tick.Marker = plot.ConstantTicks{}
		} else {
			pl.Title.Text += " (no finite values)"
		}
	}
	// The vertical axis is chosen before the lines are added, so that rank-limited marks can
	// be placed; it is set after them, since adding a plotter widens the axes to its data.
	var yLo, yHi float64
	switch {
	case logY:
		lo, hi := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
		if hi <= lo {
			hi = lo + 1
		}
		pl.Y.Scale = plot.LogScale{}
		pl.Y.Tick.Marker = decadeTicks{}
		yLo, yHi = math.Pow(10, lo), math.Pow(10, hi)
	case !empty:
		yLo, yHi = padRange(ymin, ymax)
		if p.YMin != 0 {
			yLo = math.Max(yLo, p.YMin)
		}
		if p.YMax != 0 {
			yHi = math.Min(yHi, p.YMax)
		}
	default:
		yLo, yHi = 0, 1
	}
	// Rank-limited marks get a band of their own above the values, a row per series that
	// has some, so that they hide neither the values nor each other. The band has no ticks:
	// its height is no value.
	rows := 0
	for _, s := range p.Series {
		if len(s.Limited) > 0 {
			rows++
		}
	}
	yMax := yHi
	var rowY func(i int) float64
	switch {
	case rows == 0:
	case empty:
		rowY = func(i int) float64 { return 1 - (float64(i)+0.5)/float64(rows) }
	case logY:
		step := 0.06 * math.Log10(yHi/yLo)
		rowY = func(i int) float64 { return yHi * math.Pow(10, step*(float64(i)+0.8)) }
		yMax = yHi * math.Pow(10, step*(float64(rows)+0.3))
	default:
		step := 0.06 * (yHi - yLo)
		rowY = func(i int) float64 { return yHi + step*(float64(i)+0.8) }
		yMax = yHi + step*(float64(rows)+0.3)
	}
	if rows > 0 && !empty {
		pl.Y.Tick.Marker = ticksBelow{pl.Y.Tick.Marker, yHi}
		if lo, hi, ok := p.xExtent(); ok {
			sep, err := plotter.NewLine(plotter.XYs{{X: lo, Y: yHi}, {X: hi, Y: yHi}})
			if err != nil {
				return nil, err
			}
			sep.LineStyle = draw.LineStyle{Color: color.Gray{0x99}, Width: vg.Points(0.6), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
			pl.Add(sep)
		}
	}
	if p.RefY != 0 && !empty && drawable(p.RefY, logY) {
		if lo, hi, ok := p.xExtent(); ok {
			ref, err := plotter.NewLine(plotter.XYs{{X: lo, Y: p.RefY}, {X: hi, Y: p.RefY}})
			if err != nil {
				return nil, err
			}
			ref.LineStyle = draw.LineStyle{Color: color.Gray{0x55}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
			pl.Add(ref)
		}
	}
	limitedRow := 0
	for _, s := range p.Series {
		if len(s.Lo) == len(s.X) && len(s.Hi) == len(s.X) {
			for _, seg := range bandSegments(s, logY) {
				poly, err := plotter.NewPolygon(seg)
				if err != nil {
					return nil, err
				}
				poly.Color = bandColor(s.Color)
				poly.LineStyle.Width = 0
				pl.Add(poly)
			}
		}
		for _, seg := range segments(s.X, s.Y, logY) {
			l, err := plotter.NewLine(seg)
			if err != nil {
				return nil, err
			}
			l.LineStyle = lineStyle(s.Color, s.Dash)
			pl.Add(l)
			if s.Points || len(seg) == 1 { // a lone point has no line to show it
				sc, err := plotter.NewScatter(seg)
				if err != nil {
					return nil, err
				}
				sc.GlyphStyle = glyphStyle(s.Color, s.Dash)
				pl.Add(sc)
			}
		}
		if len(s.Limited) > 0 {
			pts := make(plotter.XYs, len(s.Limited))
			y := rowY(limitedRow)
			limitedRow++
			for i, x := range s.Limited {
				pts[i] = plotter.XY{X: x, Y: y}
			}
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle = limitedGlyph(s.Color, s.Dash)
			pl.Add(sc)
		}
	}
	pl.Y.Min, pl.Y.Max = yLo, yMax
	if len(p.XTicks) > 0 {
		names := p.XTicks
		pl.X.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick {
			var t []plot.Tick
			for i, n := range names {
				if x := float64(i + 1); x >= min && x <= max {
					t = append(t, plot.Tick{Value: x, Label: n})
				}
			}
			return t
		})
	} else if p.IntX {
		pl.X.Tick.Marker = linearTicks{Min: 1}
	}
	if lo, hi, ok := p.xExtent(); ok {
		pl.X.Min, pl.X.Max = lo, hi
	}
	return pl, nil
}

// xExtent is the horizontal axis of the panel: around the named positions of XTicks, or
// xRange.
func (p *Panel) xExtent() (lo, hi float64, ok bool) {
	if len(p.XTicks) > 0 {
		return 0.7, float64(len(p.XTicks)) + 0.3, true
	}
	return p.xRange()
}

// ticksBelow keeps the ticks of Ticker at or below Max: the axis above it holds marks, not
// values.
type ticksBelow struct {
	plot.Ticker
	Max float64
}

func (t ticksBelow) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for _, tk := range t.Ticker.Ticks(lo, hi) {
		if tk.Value <= t.Max+1e-9*math.Abs(t.Max) {
			out = append(out, tk)
		}
	}
	return out
}

// segments splits (x, y) into runs of drawable points.
func segments(x, y []float64, logY bool) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for i := range min(len(x), len(y)) {
		if drawable(y[i], logY) && !math.IsNaN(x[i]) && !math.IsInf(x[i], 0) {
			cur = append(cur, plotter.XY{X: x[i], Y: y[i]})
			continue
		}
		if len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// bandSegments returns closed polygons (lower edge forward, upper edge back) over the
// stretches where both bounds are drawable.
func bandSegments(s Series, logY bool) []plotter.XYs {
	var out []plotter.XYs
	start := -1
	flush := func(end int) {
		if start >= 0 && end-start >= 2 {
			var poly plotter.XYs
			for i := start; i < end; i++ {
				poly = append(poly, plotter.XY{X: s.X[i], Y: s.Lo[i]})
			}
			for i := end - 1; i >= start; i-- {
				poly = append(poly, plotter.XY{X: s.X[i], Y: s.Hi[i]})
			}
			out = append(out, poly)
		}
		start = -1
	}
	for i := range s.X {
		ok := drawable(s.Lo[i], logY) && drawable(s.Hi[i], logY) && !math.IsNaN(s.X[i]) && !math.IsInf(s.X[i], 0)
		switch {
		case ok && start < 0:
			start = i
		case !ok:
			flush(i)
		}
	}
	flush(len(s.X))
	return out
}

// linearTicks labels about six values at a step of 1, 2 or 5 × 10^k, written with as many
// decimals as the step needs: "250", not "250.00"; "0.955". Min, when set, is the
// smallest step: 1 on axes of whole numbers (steps, indices), which never show a fraction.
type linearTicks struct{ Min float64 }

func (lt linearTicks) Ticks(lo, hi float64) []plot.Tick {
	want := (hi - lo) / 6
	step := lt.Min
	if want > 0 {
		mag := math.Pow(10, math.Floor(math.Log10(want)))
		step = niceStep(mag, want)
		if step == 0 {
			step = 10 * mag
		}
		step = math.Max(step, lt.Min)
	}
	if !(step > 0) {
		return nil
	}
	lead := step / math.Pow(10, math.Floor(math.Log10(step)+1e-9)) // 1, 2 or 5
	minor := step / 5
	if math.Round(lead) == 2 {
		minor = step / 2
	}
	if minor < lt.Min {
		minor = 0
	}
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	var t []plot.Tick
	for k := math.Ceil(lo / step); k*step <= hi; k++ {
		v := k * step
		if v == 0 {
			v = 0 // Ceil(-0.3) is -0, which would read "-0"
		}
		t = append(t, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	if minor > 0 {
		for k := math.Ceil(lo / minor); k*minor <= hi; k++ {
			if v := k * minor; math.Abs(math.Remainder(v, step)) > minor/2 {
				t = append(t, plot.Tick{Value: v})
			}
		}
	}
	return t
}

// niceStep returns the first of 1, 2, 5 times mag that is at least want, or 0 if none is.
func niceStep(mag, want float64) float64 {
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= want*(1-1e-9) {
			return m * mag
		}
	}
	return 0
}

// decadeTicks labels powers of ten on a log axis, every k-th decade so that at most about
// eight labels show, with minor ticks at 2…9 when the range spans few decades and unlabelled
// decade ticks unless it spans very many.
type decadeTicks struct{}

func (decadeTicks) Ticks(lo0, hi0 float64) []plot.Tick {
	lo, hi := int(math.Floor(math.Log10(lo0))), int(math.Ceil(math.Log10(hi0)))
	step := max(1, (hi-lo+7)/8)
	var t []plot.Tick
	for e := lo; e <= hi; e++ {
		v := math.Pow(10, float64(e))
		switch {
		case (e-lo)%step == 0:
			t = append(t, plot.Tick{Value: v, Label: decadeLabel(e)})
		case hi-lo <= 40: // more unlabelled ticks would merge into a bar
			t = append(t, plot.Tick{Value: v})
		}
		if hi-lo <= 4 && e < hi {
			for k := 2; k < 10; k++ {
				t = append(t, plot.Tick{Value: float64(k) * v})
			}
		}
	}
	return t
}

func decadeLabel(e int) string {
	if e >= -3 && e <= 4 {
		return strconv.FormatFloat(math.Pow(10, float64(e)), 'f', -1, 64)
	}
	return "1e" + strconv.Itoa(e)
}
