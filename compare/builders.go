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

// groupCurve aggregates per-run curves (x positions keyed by step) into a group series:
// at every step some member has, the mean over the members that have it, with a band when
// the group has several members.
func (rep *Report) groupCurve(g *Group, color int, perRun func(r *Run) (steps []int, xs, ys []float64)) Series {
	type pt struct{ x, y float64 }
	byStep := map[int][]pt{}
	for _, r := range g.Runs {
		steps, xs, ys := perRun(r)
		for i, s := range steps {
			byStep[s] = append(byStep[s], pt{xs[i], ys[i]})
		}
	}
	steps := make([]int, 0, len(byStep))
	for s := range byStep {
		steps = append(steps, s)
	}
	slices.Sort(steps)
	steps = thin(steps, maxPoints)
	s := Series{Label: g.Label, Color: color}
	band := len(g.Runs) > 1
	for _, st := range steps {
		pts := byStep[st]
		ys := make([]float64, len(pts))
		for i, p := range pts {
			ys[i] = p.y
		}
		sum := Summarize(ys)
		s.X = append(s.X, pts[0].x)
		s.Y = append(s.Y, sum.Mean)
		if band {
			lo, hi := sum.Min, sum.Max
			if rep.Options.Spread == SpreadStd {
				lo, hi = sum.Mean-sum.Std, sum.Mean+sum.Std
			}
			s.Lo, s.Hi = append(s.Lo, lo), append(s.Hi, hi)
		}
	}
	return s
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
func (rep *Report) metricSeries(g *Group, color int, layer, factor, key string) Series {
	a := rep.Options.Align
	return rep.groupCurve(g, color, func(r *Run) ([]int, []float64, []float64) {
		var steps []int
		var xs, ys []float64
		for _, rec := range r.Series(layer, factor) {
			steps = append(steps, rec.Step)
			xs = append(xs, a.X(r, float64(rec.Step)))
			ys = append(ys, rec.Value(key))
		}
		return steps, xs, ys
	})
}

// layerFigure shows λmax and κ_p of every factor of one layer over training.
func (rep *Report) layerFigure(layer string) *Figure {
	f := &Figure{Name: "layer_" + sanitize(layer), Title: "Layer " + layer, Cols: 2, Width: 10, Height: 10,
		Caption: fmt.Sprintf("λmax and %s of Σx, Σ∇h and F = Σx ⊗ Σ∇h of layer %s over training (Σ∂h in the figure), log scale; infinite values are not drawn.%s",
			metricName(rep.KappaKey), layer, rep.groupsNote())}
	for _, fac := range rundir.Factors {
		for _, key := range []string{"lambda_max", rep.KappaKey} {
			p := Panel{Title: figureFactorName(fac) + " " + metricName(key), XLabel: rep.axisLabel(), LogY: true}
			for i, g := range rep.Groups {
				p.Series = append(p.Series, rep.metricSeries(g, i, layer, fac, key))
			}
			f.Panels = append(f.Panels, p)
		}
	}
	return f
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
	f := &Figure{Name: "training", Title: "Training", Cols: 2, Width: 11, Height: 4.5,
		Caption: fmt.Sprintf("Left: mini-batch training loss, trailing mean over %d steps, log scale, cut at 10× the largest starting loss (diverging runs leave through the top). Right: test accuracy at the end of each epoch.%s",
			w, rep.groupsNote())}
	loss := Panel{Title: "training loss", XLabel: rep.axisLabel(), LogY: true}
	acc := Panel{Title: "test accuracy", XLabel: rep.axisLabel()}
	for i, g := range rep.Groups {
		loss.Series = append(loss.Series, rep.groupCurve(g, i, func(r *Run) ([]int, []float64, []float64) {
			var steps []int
			var xs, raw []float64
			for _, p := range r.Train {
				steps = append(steps, p.Step)
				xs = append(xs, a.X(r, float64(p.Step)))
				raw = append(raw, float64(p.Loss))
			}
			return steps, xs, trailingMean(raw, w)
		}))
		s := rep.groupCurve(g, i, func(r *Run) ([]int, []float64, []float64) {
			var steps []int
			var xs, ys []float64
			for _, p := range r.Test {
				steps = append(steps, p.Step)
				xs = append(xs, a.X(r, float64(p.Step+1)))
				ys = append(ys, p.TestAccuracy)
			}
			return steps, xs, ys
		})
		s.Points = true
		acc.Series = append(acc.Series, s)
	}
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
			p := Panel{Title: figureFactorName(fac) + " " + metricName(key), XLabel: "layer", LogY: true, XTicks: rep.Layers}
			for gi, g := range rep.Groups {
				s := Series{Label: g.Label, Color: gi, Points: true}
				for li, l := range rep.Layers {
					var vs []float64
					for _, r := range g.Runs {
						v := math.NaN()
						if rec := a.At(r, l, fac, t); rec != nil {
							v = rec.Value(key)
						}
						vs = append(vs, v)
					}
					st := Summarize(vs)
					s.X = append(s.X, float64(li+1))
					s.Y = append(s.Y, st.Mean)
					if len(g.Runs) > 1 {
						lo, hi := st.Min, st.Max
						if rep.Options.Spread == SpreadStd {
							lo, hi = st.Mean-st.Std, st.Mean+st.Std
						}
						s.Lo, s.Hi = append(s.Lo, lo), append(s.Hi, hi)
					}
				}
				p.Series = append(p.Series, s)
			}
			f.Panels = append(f.Panels, p)
		}
	}
	return f
}

// spectraFigure shows the sorted eigenvalues of one factor of every layer at the targets, one
// line per run that stored them. It returns nil (and a note) when no run has any.
func (rep *Report) spectraFigure(factor string, targets []int) (*Figure, error) {
	a := rep.Options.Align
	if len(targets) == 0 {
		return nil, nil
	}
	f := &Figure{Name: "spectra_" + factor, Title: "Eigenvalue spectra of " + figureFactorName(factor), Cols: len(targets),
		Width: 4.5*float64(len(targets)) + 2, Height: 3.2 * float64(max(len(rep.Layers), 1)),
		Caption: fmt.Sprintf("Eigenvalues of %s in decreasing order (index on the horizontal axis), log scale, one line per run; values below 1e-16 λ1 (round-off) and zeros are not drawn.", factorName(factor))}
	var missing []string
	found := 0
	for _, l := range rep.Layers {
		for _, t := range targets {
			p := Panel{Title: fmt.Sprintf("%s %s at %s", l, figureFactorName(factor), a.Name(t)), XLabel: "index", LogY: true}
			for ri, r := range rep.Runs {
				rec := a.At(r, l, factor, t)
				if rec == nil || r.Spectra == nil {
					continue
				}
				ev, err := r.Spectra.Spectrum(rec.Step, l, factor)
				if errors.Is(err, ErrNoSpectrum) {
					if !slices.Contains(missing, r.Label) {
						missing = append(missing, r.Label)
					}
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("compare: run %s: %w", r.Label, err)
				}
				found++
				s := Series{Label: r.Label, Color: ri}
				idx := make([]int, len(ev))
				for i := range idx {
					idx[i] = i
				}
				for _, i := range thin(idx, maxPoints) {
					s.X = append(s.X, float64(i+1))
					s.Y = append(s.Y, ev[i])
				}
				p.Series = append(p.Series, s)
			}
			f.Panels = append(f.Panels, p)
		}
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
