package layers

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"

	"github.com/lwca/lwca/graph"
)

// Defaults are the model-wide choices that a layer's options may leave open.
type Defaults struct {
	Init       string         // weight initialiser of weighted layers; default he
	BNMomentum float64        // BatchNorm running-statistics momentum; default 0.1
	BNEps      float64        // BatchNorm epsilon; default 1e-5
	ConvMode   graph.ConvMode // what convolutions' input hooks record; default patches
}

// Context is what a layer type's Build sees of where its layer sits.
type Context struct {
	// Name is the layer's full name: its own name after those of the blocks around it
	// (stage2.block3.conv1); the enclosing block's name when the spec has none.
	Name string
	// Block is the full name of the enclosing block ("" at the top level).
	Block string
	// In is the shape of one input sample.
	In Shape
	// Target is, for a residual's shortcut, the shape the body gives, which the shortcut
	// must match; nil elsewhere.
	Target   Shape
	Defaults Defaults

	b *builder
}

// Initializer returns the registered initialiser name, or the model's default for "".
func (c *Context) Initializer(name string) (graph.Initializer, error) {
	if name == "" {
		name = c.Defaults.Init
	}
	if name == "" {
		name = "he"
	}
	return graph.Initializers.Lookup(name)
}

// Build builds specs as the layers of a block named block (their names are prefixed with it),
// on input shape in: for structural types whose options hold layer lists.
func (c *Context) Build(block string, specs []Spec, in Shape) (graph.Sequential, Shape, error) {
	return c.b.list(block, specs, in, nil)
}

// BuildShortcut builds specs as a residual shortcut that must turn shape in into target.
func (c *Context) BuildShortcut(block string, specs []Spec, in, target Shape) (graph.Sequential, Shape, error) {
	return c.b.list(block, specs, in, target)
}

// Build returns the network of specs for samples of shape in. Image input (H, W, C) is first
// viewed as images: the network's input rows are flat.
func Build(specs []Spec, in Shape, d Defaults) (graph.Sequential, Shape, error) {
	b := &builder{defaults: d, names: map[string]string{}}
	net, out, err := b.list("", specs, in, nil)
	if err != nil {
		return nil, nil, err
	}
	if len(in) == 3 {
		// A network that flattens its images first never needs the image view.
		if len(net) > 0 && net[0] == graph.Layer(graph.Flatten{}) {
			net = net[1:]
		} else {
			net = append(graph.Sequential{graph.Image{H: in[0], W: in[1], C: in[2]}}, net...)
		}
	}
	return net, out, nil
}

type builder struct {
	defaults Defaults
	names    map[string]string // full names of named layers → where they were declared
}

// validName is one dotted path of names: what results and parameter files are keyed by.
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// CheckName reports whether name can name a layer.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("layer name %q: expected letters, digits, _ and -, with dots between the names of nested blocks", name)
	}
	return nil
}

func join(block, name string) string {
	if block == "" || name == "" {
		return block + name
	}
	return block + "." + name
}

func (b *builder) list(block string, specs []Spec, in Shape, target Shape) (graph.Sequential, Shape, error) {
	var net graph.Sequential
	cur := in
	for i, s := range specs {
		layer, out, err := b.one(block, i, s, cur, target)
		if err != nil {
			return nil, nil, err
		}
		if layer != nil {
			net = append(net, layer)
		}
		cur = out
	}
	return net, cur, nil
}

func (b *builder) one(block string, i int, s Spec, in, target Shape) (graph.Layer, Shape, error) {
	full := join(block, s.Name)
	where := s.Pos
	if where != "" {
		where += ": "
	}
	label := fmt.Sprintf("layer %s (%s)", full, s.Type)
	if s.Name == "" {
		label = fmt.Sprintf("layer %d of %s (%s)", i+1, cmp.Or(block, "the network"), s.Type)
	}
	t, err := Types.Lookup(s.Type)
	if err != nil {
		return nil, nil, fmt.Errorf("%s%w", where, err)
	}
	if s.Name != "" {
		if err := CheckName(s.Name); err != nil {
			return nil, nil, fmt.Errorf("%s%s: %w", where, label, err)
		}
		if first, dup := b.names[full]; dup {
			return nil, nil, fmt.Errorf("%s%s: the name %s is taken (first declared at %s)", where, label, full, cmp.Or(first, "an earlier layer"))
		}
		b.names[full] = s.Pos
	} else if t.Named {
		return nil, nil, fmt.Errorf("%s%s needs a name: its parameters and records are found by it", where, label)
	}
	opts := s.Options
	if opts == nil {
		opts = t.Options()
	}
	if c, ok := opts.(interface{ Check() []Problem }); ok {
		if ps := c.Check(); len(ps) > 0 {
			var msgs []string
			for _, p := range ps {
				msgs = append(msgs, p.Field+": "+p.Msg)
			}
			return nil, nil, fmt.Errorf("%s%s: %s", where, label, strings.Join(msgs, "; "))
		}
	}
	ctx := &Context{Name: full, Block: block, In: in, Target: target, Defaults: b.defaults, b: b}
	layer, out, err := t.Build(ctx, opts)
	if err != nil {
		if _, nested := err.(*nestedError); nested {
			return nil, nil, err
		}
		return nil, nil, &nestedError{fmt.Errorf("%s%s on input %s: %w", where, label, in.describe(), err)}
	}
	return layer, out, nil
}

// nestedError is an error already placed at the innermost layer it concerns, passed up
// unchanged through the blocks around it.
type nestedError struct{ err error }

func (e *nestedError) Error() string { return e.err.Error() }
func (e *nestedError) Unwrap() error { return e.err }
