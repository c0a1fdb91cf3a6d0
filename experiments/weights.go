package experiments

import (
	"strconv"
	"strings"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/hooks"
	"gorgonia.org/tensor"
)

// weightBlock locates the weight whose Fisher block a hook point's factors describe: a
// weighted layer's whole weight, or for group k of a grouped convolution (hook point
// <layer>.g<k>) the k-th of the layer weight's equal column blocks.
type weightBlock struct {
	param     int // index among the parameters
	k, groups int // column block k (1-based) of groups; 0 for the whole weight
}

// weightBlocks maps the name of every hook point of points to its weight among params.
func weightBlocks(params []*graph.Param, points []*hooks.Point) map[string]weightBlock {
	byLayer := map[string]int{}
	for i, p := range params {
		if p.Role == graph.Weight {
			byLayer[p.Layer] = i
		}
	}
	groups := map[string]int{}
	for _, p := range points {
		if base, _, ok := groupOf(p.Layer); ok {
			groups[base]++
		}
	}
	out := map[string]weightBlock{}
	for _, p := range points {
		if i, ok := byLayer[p.Layer]; ok {
			out[p.Layer] = weightBlock{param: i}
		} else if base, k, ok := groupOf(p.Layer); ok {
			if i, ok := byLayer[base]; ok {
				out[p.Layer] = weightBlock{param: i, k: k, groups: groups[base]}
			}
		}
	}
	return out
}

// groupOf splits a grouped convolution's hook name <layer>.g<k>.
func groupOf(name string) (base string, k int, ok bool) {
	i := strings.LastIndex(name, ".g")
	if i < 0 {
		return "", 0, false
	}
	k, err := strconv.Atoi(name[i+2:])
	if err != nil || k < 1 {
		return "", 0, false
	}
	return name[:i], k, true
}

// of returns the block of ts[b.param]: the tensor itself, or a copy of its column block.
func (b weightBlock) of(ts []*tensor.Dense) *tensor.Dense {
	if b.param >= len(ts) || ts[b.param] == nil {
		return nil
	}
	t := ts[b.param]
	if b.groups == 0 {
		return t
	}
	s := t.Shape()
	if len(s) != 2 || s[1]%b.groups != 0 {
		return nil
	}
	rows, cols := s[0], s[1]
	w := cols / b.groups
	lo := (b.k - 1) * w
	switch d := t.Data().(type) {
	case []float32:
		out := make([]float32, 0, rows*w)
		for r := range rows {
			out = append(out, d[r*cols+lo:r*cols+lo+w]...)
		}
		return tensor.New(tensor.WithShape(rows, w), tensor.WithBacking(out))
	case []float64:
		out := make([]float64, 0, rows*w)
		for r := range rows {
			out = append(out, d[r*cols+lo:r*cols+lo+w]...)
		}
		return tensor.New(tensor.WithShape(rows, w), tensor.WithBacking(out))
	}
	return nil
}
