package compare

import (
	"math"
	"slices"
)

// Figure is a grid of panels sharing one legend, built from a comparison and drawn by
// Render. Keeping what is shown apart from how it is drawn lets tests check the content of a
// figure without reading pixels.
type Figure struct {
	Name    string // file stem: "training", "layer_fc1", "depth", "spectra_x"
	Title   string
	Caption string // what the figure shows and how, for the report
	Cols    int    // panels per row; Panels fill rows in order
	Panels  []Panel
	Width   float64 // inches
	Height  float64 // inches
}

// Panel is one plot of a figure.
type Panel struct {
	Title, XLabel, YLabel string
	LogY                  bool
	Series                []Series
	// XTicks, when set, labels integer x positions (layer names in depth profiles).
	XTicks []string
	// IntX says that x holds whole numbers (steps, eigenvalue indices): ticks fall on
	// integers and read "250", not "250.00".
	IntX bool
	// XMin and XMax, when not both zero, fix the horizontal axis, so that panels of one
	// figure share it even when one holds a single point.
	XMin, XMax float64
	// YMin and YMax, when not zero, bound the vertical axis; lines beyond it are cut at
	// its edge (a diverging loss, the round-off tail of a spectrum, accuracy above 1).
	YMin, YMax float64
	// YInclude lists heights the vertical axis reaches at least, so that the panels of a
	// row can share one range.
	YInclude []float64
	// RefY, when not zero, draws a grey reference line at that height (a stability
	// threshold); it is no series and has no legend entry, the caption names it.
	RefY float64
}

// Series is one line of a panel: a run, or a group of seeds drawn as its mean with a band.
type Series struct {
	Label string
	Color int       // index into the figure palette; the same label has the same color everywhere
	Dash  int       // index into the dash patterns: the value of the compared setting
	X, Y  []float64 // NaN or, on a log axis, non-positive Y leave a gap
	// Lo and Hi bound the spread band of a group (nil for a single run).
	Lo, Hi []float64
	Points bool // draw markers (sparse data such as end-of-epoch evaluations)
	// Limited holds the x positions where the value is rank-limited: a κ whose divisor is
	// round-off. They are marked in a band above the values instead of drawn as values.
	Limited []float64
}

// LegendEntry is one label and style of a figure's legend.
type LegendEntry struct {
	Label       string
	Color, Dash int
}

// Legend returns the distinct series labels of f in order of first appearance.
func (f *Figure) Legend() []LegendEntry {
	var out []LegendEntry
	for _, p := range f.Panels {
		for _, s := range p.Series {
			if !slices.ContainsFunc(out, func(e LegendEntry) bool { return e.Label == s.Label }) {
				out = append(out, LegendEntry{s.Label, s.Color, s.Dash})
			}
		}
	}
	return out
}

// HasLimited reports whether some panel of f marks rank-limited points.
func (f *Figure) HasLimited() bool {
	for _, p := range f.Panels {
		if p.hasLimited() {
			return true
		}
	}
	return false
}

func (p *Panel) hasLimited() bool {
	return slices.ContainsFunc(p.Series, func(s Series) bool { return len(s.Limited) > 0 })
}

// Empty reports whether no panel of f has a value or a rank-limited mark to draw.
func (f *Figure) Empty() bool {
	for _, p := range f.Panels {
		if p.hasLimited() {
			return false
		}
		for _, s := range p.Series {
			for _, y := range s.Y {
				if drawable(y, p.LogY) {
					return false
				}
			}
		}
	}
	return true
}

func drawable(y float64, logY bool) bool {
	return !math.IsNaN(y) && !math.IsInf(y, 0) && (!logY || y > 0)
}
