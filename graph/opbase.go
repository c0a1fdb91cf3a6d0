package graph

import (
	"fmt"
	"hash"
	"hash/fnv"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// float is the element types lwca graphs compute in.
type float interface{ ~float32 | ~float64 }

// opBase supplies the bookkeeping half of Gorgonia's Op interface for lwca's ops. Ops built on
// it allocate a fresh output in Do and never alias or overwrite their inputs.
type opBase struct{ name string }

func (o opBase) ReturnsPtr() bool     { return false }
func (o opBase) CallsExtern() bool    { return false }
func (o opBase) OverwritesInput() int { return -1 }
func (o opBase) String() string       { return o.name }

// WriteHash writes the op's unique name: Gorgonia merges nodes whose ops hash alike.
func (o opBase) WriteHash(h hash.Hash) { fmt.Fprint(h, o.name) }

func (o opBase) Hashcode() uint32 {
	h := fnv.New32a()
	fmt.Fprint(h, o.name)
	return h.Sum32()
}

func dense(v G.Value, what string) (*tensor.Dense, error) {
	t, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("%s: expected a dense tensor, got %T", what, v)
	}
	return t, nil
}

// scalarOf reads a scalar gradient seed, whatever form Gorgonia hands it in.
func scalarOf(v G.Value) (float64, error) {
	switch s := v.(type) {
	case *G.F32:
		return float64(*s), nil
	case *G.F64:
		return float64(*s), nil
	case *tensor.Dense:
		switch d := s.Data().(type) {
		case float32:
			return float64(d), nil
		case float64:
			return d, nil
		case []float32:
			if len(d) == 1 {
				return float64(d[0]), nil
			}
		case []float64:
			if len(d) == 1 {
				return d[0], nil
			}
		}
	}
	return 0, fmt.Errorf("expected a scalar, got %T", v)
}

func uniqueName(kind, layer string) string { return "lwca." + kind + "(" + layer + ")" }
