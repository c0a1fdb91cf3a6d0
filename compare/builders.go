package compare

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/lwca/lwca/rundir"
)

// maxPoints bounds the points of one curve; longer curves are thinned evenly.
const maxPoints = 2000

// spectrumFloor is the smallest eigenvalue, relative to the largest, that spectrum figures
// show: below it lies the round-off of a rank-deficient factor.
const spectrumFloor = 1e-16

// curvePoint is one value of a run's curve; key orders and matches points across the
// members of a group (a step, or an eigenvalue index).
type curvePoint struct {
	key     int
	x, y    float64
	limited bool // a rank-limited κ: y is not a value
}

// groupCurve aggregates per-run curves into a group series: at every key some member has,
// the mean over the members with an ordinary value, with a band when the group has several
// members, and a rank-limited mark where some member is rank-limited.
func (rep *Report) groupCurve(g *Group, perRun func(r *Run) []curvePoint) Series {
	byKey := map[int][]curvePoint{}
	for _, r := range g.Runs {
		for _, p := range perRun(r) {
			byKey[p.key] = append(byKey[p.key], p)
		}
	}
	keys := make([]int, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	keys = thin(keys, maxPoints)
	st := rep.styleOf(g)
	s := Series{Label: g.Label, Color: st.Color, Dash: st.Dash}
	band := len(g.Runs) > 1
	for _, k := range keys {
		pts := byKey[k]
		var ys []float64
		limited := false
		for _, p := range pts {
			if p.limited {
				limited = true
				continue
			}
			ys = append(ys, p.y)
		}
		if limited {
			s.Limited = append(s.Limited, pts[0].x)
		}
		sum := Summarize(ys)
		s.X = append(s.X, pts[0].x)
		s.Y = append(s.Y, sum.Mean)
		if band {
			lo, hi := rep.spread(sum)
			s.Lo, s.Hi = append(s.Lo, lo), append(s.Hi, hi)
		}
	}
	return s
}

// spread returns the band of a group's values at one point.
func (rep *Report) spread(s Stat) (lo, hi float64) {
	if rep.Options.Spread == SpreadStd {
		return s.Mean - s.Std, s.Mean + s.Std
	}
	return s.Min, s.Max
}

func (rep *Report) axisLabel() string {
	if rep.Options.Align == ByEpoch {
		return "epoch"
	}
	return "step"
}

func (rep *Report) spreadText() string {
	if rep.Options.Spread == SpreadStd {
		return "mean ± one standard deviation"
	}
	return "min to max"
}

func (rep *Report) groupsNote() string {
	for _, g := range rep.Groups {
		if len(g.Runs) > 1 {
			return fmt.Sprintf(" Groups of seeds: mean line, band %s over the seeds.", rep.spreadText())
		}
	}
	return ""
}

// metricSeries is a group's curve of one record key of one layer and factor.
func (rep *Report) metricSeries(g *Group, layer, factor, key string) Series {
	a := rep.Options.Align
	return rep.groupCurve(g, func(r *Run) []curvePoint {
		var pts []curvePoint
		for _, rec := range r.Series(layer, factor) {
			v, lim := valueOf(rec, key)
			pts = append(pts, curvePoint{rec.Step, a.X(r, float64(rec.Step)), v, lim})
		}
		return pts
	})
}

// limitedNote explains the rank-limited mark in captions of figures that have one.
const limitedNote = " Triangles in the band above the dashed line: κ is rank-limited at that step (the eigenvalue it divides by is round-off, or zero), so no value is drawn; open or filled as the group's line is solid or dashed."

// layerFigure shows λmax and κ_p of every factor of one layer over training.
func (rep *Report) layerFigure(layer string) *Figure {
	f := &Figure{Name: "layer_" + sanitize(layer), Title: "Layer " + layer, Cols: 2, Width: 10, Height: 10,
		Caption: fmt.Sprintf("λmax and %s of Σx, Σ∇h and F = Σx ⊗ Σ∇h of layer %s over training, log scale.%s",
			metricName(rep.KappaKey), layer, rep.groupsNote())}
	for _, fac := range rundir.Factors {
		for _, key := range []string{"lambda_max", rep.KappaKey} {
			p := Panel{Title: factorName(fac) + " " + metricName(key), XLabel: rep.axisLabel(), YLabel: metricName(key),
				LogY: true, IntX: rep.Options.Align == ByStep, XMax: rep.xEnd()}
			for _, g := range rep.Groups {
				p.Series = append(p.Series, rep.metricSeries(g, layer, fac, key))
			}
			f.Panels = append(f.Panels, p)
		}
	}
	if f.HasLimited() {
		f.Caption += limitedNote
	}
	return f
}

// xEnd is where training ends on the horizontal axis of figures over training: the step
// after the longest run's last, or its epochs done.
func (rep *Report) xEnd() float64 {
	end := 0.0
	for _, r := range rep.Runs {
		end = math.Max(end, rep.Options.Align.X(r, float64(r.LastStep()+1)))
	}
	return end
}

// smoothWindow is the trailing-mean window for training-loss curves.
func (rep *Report) smoothWindow() int {
	if rep.Options.Smooth > 0 {
		return rep.Options.Smooth
	}
	longest := 0
	for _, r := range rep.Runs {
		longest = max(longest, len(r.Train))
	}
	return max(1, longest/200)
}

// trailingMean returns the mean of the last w values at each position; non-finite values
// propagate, so a diverging loss ends its curve.
func trailingMean(ys []float64, w int) []float64 {
	out := make([]float64, len(ys))
	for i := range ys {
		sum := 0.0
		lo := max(0, i-w+1)
		for _, y := range ys[lo : i+1] {
			sum += y
		}
		out[i] = sum / float64(i+1-lo)
	}
	return out
}

// trainingFigure shows the training loss and the test accuracy of every group.
func (rep *Report) trainingFigure() *Figure {
	a := rep.Options.Align
	w := rep.smoothWindow()
	smoothing := fmt.Sprintf("trailing mean over %d steps", w)
	if w == 1 {
		smoothing = "unsmoothed"
	}
	f := &Figure{Name: "training", Title: "Training", Cols: 2, Width: 11, Height: 4.5,
		Caption: fmt.Sprintf("Left: mini-batch training loss, %s, log scale, cut at 10× the largest starting loss (diverging runs leave through the top). Right: test accuracy at the end of each epoch.%s",
			smoothing, rep.groupsNote())}
	intX := a == ByStep
	loss := Panel{Title: "training loss", XLabel: rep.axisLabel(), YLabel: "loss", LogY: true, IntX: intX}
	// Accuracy is a fraction: its axis stays within [0, 1] however few the points.
	acc := Panel{Title: "test accuracy", XLabel: rep.axisLabel(), YLabel: "test accuracy", IntX: intX, YMax: 1}
	for _, g := range rep.Groups {
		loss.Series = append(loss.Series, rep.groupCurve(g, func(r *Run) []curvePoint {
			raw := make([]float64, len(r.Train))
			for i, p := range r.Train {
				raw[i] = float64(p.Loss)
			}
			sm := trailingMean(raw, w)
			pts := make([]curvePoint, len(r.Train))
			for i, p := range r.Train {
				pts[i] = curvePoint{key: p.Step, x: a.X(r, float64(p.Step)), y: sm[i]}
			}
			return pts
		}))
		s := rep.groupCurve(g, func(r *Run) []curvePoint {
			var pts []curvePoint
			for _, p := range r.Test {
				pts = append(pts, curvePoint{key: p.Step, x: a.X(r, float64(p.Step+1)), y: p.TestAccuracy})
			}
			return pts
		})
		s.Points = true
		acc.Series = append(acc.Series, s)
	}
	// Both panels span training, so that the end-of-epoch accuracy of a one-epoch run sits
	// at the end of an axis that starts at 0, not alone on an axis of its own.
	loss.XMax, acc.XMax = rep.xEnd(), rep.xEnd()
	// Diverging runs reach losses of 1e30 and more; cut the axis at 10× the largest starting
	// loss so that the others stay readable.
	start := 0.0
	for _, s := range loss.Series {
		for _, y := range s.Y {
			if drawable(y, true) {
				start = math.Max(start, y)
				break
			}
		}
	}
	if start > 0 {
		loss.YMax = 10 * start
	}
	f.Panels = []Panel{loss, acc}
	return f
}

// depthFigure shows λmax and κ_p of every factor against the layer's position at target t.
func (rep *Report) depthFigure(t int) *Figure {
	a := rep.Options.Align
	f := &Figure{Name: "depth_" + a.String() + fmt.Sprint(t), Title: "Depth profile at " + a.Name(t), Cols: 2,
		Width: 10, Height: 10,
		Caption: fmt.Sprintf("λmax and %s of each factor against the layer's position in the network at %s (each run's latest analysis at or before it), log scale.%s",
			metricName(rep.KappaKey), a.Name(t), rep.groupsNote())}
	for _, fac := range rundir.Factors {
		for _, key := range []string{"lambda_max", rep.KappaKey} {
			p := Panel{Title: factorName(fac) + " " + metricName(key), XLabel: "layer", YLabel: metricName(key),
				LogY: true, XTicks: rep.Layers}
			for _, g := range rep.Groups {
				s := rep.groupCurve(g, func(r *Run) []curvePoint {
					var pts []curvePoint
					for li, l := range rep.Layers {
						if rec := a.At(r, l, fac, t); rec != nil {
							v, lim := valueOf(rec, key)
							pts = append(pts, curvePoint{li, float64(li + 1), v, lim})
						}
					}
					return pts
				})
				s.Points = true
				p.Series = append(p.Series, s)
			}
			f.Panels = append(f.Panels, p)
		}
	}
	if f.HasLimited() {
		f.Caption += limitedNote
	}
	return f
}

// spectraFigure shows the sorted eigenvalues of one factor of every layer at the targets, one
// line per group (the mean over the seeds that stored them, with a band). It returns nil (and
// a note) when no run has any.
func (rep *Report) spectraFigure(factor string, targets []int) (*Figure, error) {
	a := rep.Options.Align
	if len(targets) == 0 {
		return nil, nil
	}
	f := &Figure{Name: "spectra_" + factor, Title: "Eigenvalue spectra of " + factorName(factor), Cols: len(targets),
		Width: 4.5*float64(len(targets)) + 2, Height: 3.2 * float64(max(len(rep.Layers), 1)),
		Caption: fmt.Sprintf("Eigenvalues of %s in decreasing order (index on the horizontal axis), log scale; values below 1e-16 λ1 (round-off) and zeros are not drawn.%s",
			factorName(factor), rep.groupsNote())}
	var missing []string
	found := 0
	var readErr error
	for _, l := range rep.Layers {
		for _, t := range targets {
			p := Panel{Title: fmt.Sprintf("%s %s at %s", l, factorName(factor), a.Name(t)), XLabel: "index",
				YLabel: "eigenvalue", LogY: true, IntX: true}
			for _, g := range rep.Groups {
				s := rep.groupCurve(g, func(r *Run) []curvePoint {
					rec := a.At(r, l, factor, t)
					if rec == nil || r.Spectra == nil || readErr != nil {
						return nil
					}
					ev, err := r.Spectra.Spectrum(rec.Step, l, factor)
					if errors.Is(err, ErrNoSpectrum) {
						if !slices.Contains(missing, r.Label) {
							missing = append(missing, r.Label)
						}
						return nil
					}
					if err != nil {
						readErr = fmt.Errorf("compare: run %s: %w", r.Label, err)
						return nil
					}
					found++
					pts := make([]curvePoint, len(ev))
					for i, v := range ev {
						pts[i] = curvePoint{key: i, x: float64(i + 1), y: v}
					}
					return pts
				})
				if len(s.X) > 0 {
					p.Series = append(p.Series, s)
				}
			}
			f.Panels = append(f.Panels, p)
		}
	}
	if readErr != nil {
		return nil, readErr
	}
	for i := range f.Panels {
		// Eigenvalues below 1e-16 λ1 are round-off; without a floor they would take up most
		// of the axis.
		top := 0.0
		for _, s := range f.Panels[i].Series {
			if len(s.Y) > 0 {
				top = math.Max(top, s.Y[0])
			}
		}
		if top > 0 {
			f.Panels[i].YMin = top * spectrumFloor
		}
	}
	if found == 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("spectra of %s: not available (no run stored any); figure left out", factorName(factor)))
		return nil, nil
	}
	if len(missing) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("spectra of %s: runs without stored spectra left out of the figure: %v", factorName(factor), missing))
	}
	return f, nil
}
