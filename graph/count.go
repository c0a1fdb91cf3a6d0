package graph

import "math"

// ParamCounter is a layer that can say, before any graph is built, how many values its
// parameters and buffers will hold, so that a network too large for memory is refused
// before the store allocates it.
type ParamCounter interface {
	NumParams() int64
}

// CountParams returns the number of parameter and buffer values the network l will create:
// the sum over its layers that implement ParamCounter, Sequential and Residual followed.
// Every weighted and normalisation layer of this package counts itself; a layer of another
// package that does not implement ParamCounter counts as 0.
func CountParams(l Layer) int64 {
	switch l := l.(type) {
	case nil:
		return 0
	case ParamCounter:
		return l.NumParams()
	case Sequential:
		var n int64
		for _, c := range l {
			n = add(n, CountParams(c))
		}
		return n
	case Residual:
		return add(CountParams(l.Body), CountParams(l.Shortcut))
	case *Residual:
		return add(CountParams(l.Body), CountParams(l.Shortcut))
	}
	return 0
}

// add and mul saturate at math.MaxInt64: a declared width of 10^10 must read as too
// large, not wrap around to a small or negative count.
func add(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func mul(xs ...int) int64 {
	n := int64(1)
	for _, x := range xs {
		if x <= 0 {
			return 0
		}
		if n > math.MaxInt64/int64(x) {
			return math.MaxInt64
		}
		n *= int64(x)
	}
	return n
}

// NumParams is In·Out weights, plus Out biases.
func (l *Linear) NumParams() int64 {
	n := mul(l.In, l.Out)
	if l.Bias {
		n = add(n, int64(l.Out))
	}
	return n
}

// NumParams is KH·KW·In/Groups·Out weights, plus Out biases.
func (l *Conv2d) NumParams() int64 {
	n := mul(l.KH, l.KW, l.In/max(l.Groups, 1), l.Out)
	if l.Bias {
		n = add(n, int64(l.Out))
	}
	return n
}

// NumParams is C scales and shifts, plus the C running means and variances.
func (l *BatchNorm) NumParams() int64 { return mul(4, l.C) }

// NumParams is C scales and shifts.
func (l *GroupNorm) NumParams() int64 { return mul(2, l.C) }

// NumParams is C scales and shifts.
func (l *LayerNorm) NumParams() int64 { return mul(2, l.C) }
