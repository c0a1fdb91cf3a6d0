package compare

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Keys that do not make two runs different experiments: runs whose configs differ only in
// these form one group, and config differences leave them out.
const (
	SeedKey = "seed"
	NameKey = "name"
)

// Group is a set of runs whose configs differ only in seed (and name): repetitions of one
// experiment. A run without a config.yaml is a group of its own.
type Group struct {
	Label string
	Runs  []*Run
}

// Seeds returns the members' seeds as written in their configs.
func (g *Group) Seeds() []string {
	var out []string
	for _, r := range g.Runs {
		out = append(out, r.Config[SeedKey])
	}
	return out
}

// Group labels built from settings are kept short enough for a legend; runs that differ in
// more settings are labelled by name.
const (
	maxLabelKeys = 4
	maxLabelLen  = 48
)

// GroupRuns groups runs by their configs without seed and name, in order of first appearance.
// A group's label lists the settings that set it apart from the other groups, e.g.
// "norm=batchnorm,lr=0.1" (keys shortened to their last element where that is unambiguous);
// with a single group, runs without configs or groups that differ in too many settings to
// list, it is the run label (a group of one) or the config name.
func GroupRuns(runs []*Run) []*Group {
	var groups []*Group
	byKey := map[string]*Group{}
	for _, r := range runs {
		key := "dir:" + r.Dir
		if r.Config != nil {
			key = groupKey(r.Config)
		}
		g := byKey[key]
		if g == nil {
			g = &Group{}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.Runs = append(g.Runs, r)
	}
	diff := ConfigDiff(runs, SeedKey, NameKey)
	short := shortKeys(diff)
	for _, g := range groups {
		r := g.Runs[0]
		var parts []string
		if r.Config != nil {
			for _, k := range diff {
				parts = append(parts, short[k]+"="+r.Config[k])
			}
		}
		label := strings.Join(parts, ",")
		switch {
		case len(parts) > 0 && len(parts) <= maxLabelKeys && len(label) <= maxLabelLen:
			g.Label = label
		case len(g.Runs) == 1:
			g.Label = r.Label
		case r.Summary.Name != "":
			g.Label = r.Summary.Name
		default:
			g.Label = r.Label
		}
	}
	count := map[string]int{}
	for _, g := range groups {
		count[g.Label]++
		if n := count[g.Label]; n > 1 {
			g.Label = fmt.Sprintf("%s#%d", g.Label, n)
		}
	}
	return groups
}

func groupKey(cfg map[string]string) string {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		if k != SeedKey && k != NameKey {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, cfg[k])
	}
	return b.String()
}

// Stat summarises the values of a group's members at one point.
type Stat struct {
	N        int     // members with a value (NaN counts as missing)
	Mean     float64 // arithmetic mean; +Inf if any member is +Inf
	Std      float64 // sample standard deviation (n−1); 0 for one value, NaN if not finite
	Min, Max float64
}

// Summarize returns the statistics of the non-NaN values in xs; N = 0 and NaN fields when
// there are none.
func Summarize(xs []float64) Stat {
	s := Stat{Mean: math.NaN(), Std: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	var vals []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			vals = append(vals, x)
		}
	}
	s.N = len(vals)
	if s.N == 0 {
		return s
	}
	s.Min, s.Max = slices.Min(vals), slices.Max(vals)
	sum := 0.0
	for _, x := range vals {
		sum += x
	}
	s.Mean = sum / float64(s.N)
	switch {
	case math.IsInf(s.Mean, 0) || math.IsNaN(s.Mean):
		s.Std = math.NaN()
	case s.N == 1:
		s.Std = 0
	default:
		ss := 0.0
		for _, x := range vals {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(ss / float64(s.N-1))
	}
	return s
}
