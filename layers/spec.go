package layers

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lwca/lwca/graph"
	"github.com/lwca/lwca/registry"
	"gopkg.in/yaml.v3"
)

// Spec is one declared layer: a registered type, the layer's name (a dotted path element, or
// empty for layers without parameters) and the type's options, decoded into the pointer to
// the options struct that the type's Options returned.
type Spec struct {
	Type    string
	Name    string
	Options any
	// Pos says where the spec was declared ("file.yaml:12"), for errors; empty for specs built
	// in Go.
	Pos string
}

// New returns the spec of a layer of the registered type typ, with the type's default
// options changed by set (nil keeps the defaults). It panics on an unknown type: specs built
// in Go name types that the program registers.
func New[O any](typ, name string, set func(*O)) Spec {
	t, err := Types.Lookup(typ)
	if err != nil {
		panic(err)
	}
	o := t.Options()
	if set != nil {
		p, ok := o.(*O)
		if !ok {
			panic(fmt.Sprintf("layers: %s options are %T, not *%T", typ, o, *new(O)))
		}
		set(p)
	}
	return Spec{Type: typ, Name: name, Options: o}
}

// Of returns the spec of a layer type that has no options, such as relu or flatten.
func Of(typ string) Spec { return New[struct{}](typ, "", nil) }

// MarshalYAML writes a spec as one mapping: type, name (when set) and then every option, or as
// the bare type name when it has neither name nor options.
func (s Spec) MarshalYAML() (any, error) {
	var opts yaml.Node
	if s.Options != nil {
		if err := opts.Encode(s.Options); err != nil {
			return nil, fmt.Errorf("layers: %s options: %w", s.Type, err)
		}
	}
	if s.Name == "" && len(opts.Content) == 0 {
		return s.Type, nil
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	add := func(k, v string) {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &yaml.Node{Kind: yaml.ScalarNode, Value: v})
	}
	add("type", s.Type)
	if s.Name != "" {
		add("name", s.Name)
	}
	if opts.Kind == yaml.MappingNode {
		n.Content = append(n.Content, opts.Content...)
	}
	// Nested layer lists read better in block style.
	for _, c := range opts.Content {
		if c.Kind == yaml.SequenceNode {
			n.Style = 0
			break
		}
	}
	return n, nil
}

// Shape is the shape of one sample: (d) for features, (H, W, C) for channels-last images.
type Shape []int

// Image returns the dimensions of an image shape, or an error that says what the layer got.
func (s Shape) Image() (h, w, c int, err error) {
	if len(s) != 3 {
		return 0, 0, 0, fmt.Errorf("needs images (height × width × channels), got %s", s.describe())
	}
	return s[0], s[1], s[2], nil
}

// Features returns the width of a feature shape, or an error that says what the layer got.
func (s Shape) Features() (int, error) {
	if len(s) != 1 {
		return 0, fmt.Errorf("needs features (one dimension), got %s; add a flatten before it", s.describe())
	}
	return s[0], nil
}

// Channels is the last dimension: the channels of an image, the width of features.
func (s Shape) Channels() int {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

// Size is the number of values in a sample.
func (s Shape) Size() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Equal reports whether two shapes are the same.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, "×")
}

func (s Shape) describe() string {
	switch len(s) {
	case 1:
		return fmt.Sprintf("features of width %d", s[0])
	case 3:
		return fmt.Sprintf("%s images", s)
	}
	return "shape " + s.String()
}

// Problem is a range violation in a layer's options: the option's key and what is wrong.
type Problem = registry.Problem

// Type is a registered layer type.
type Type struct {
	// Options returns a pointer to a new options struct holding the defaults. A config's keys
	// other than type and name decode into it strictly, by the fields' yaml tags. When the
	// struct has a method Check() []Problem, its range violations are reported with the file
	// and line of each option.
	Options func() any
	// Named says that the layer must be given a name: its parameters, buffers and records are
	// found by it.
	Named bool
	// Build returns the layer for options opts, given the input shape ctx.In, and the shape of
	// its output.
	Build func(ctx *Context, opts any) (graph.Layer, Shape, error)
}

// Named marks a layer type whose layers must have a name (Define's named argument).
const Named = true

// Define returns the Type of options O, with defaults as its default options: the typed way
// to write a Type.
func Define[O any](defaults O, named bool, build func(ctx *Context, o O) (graph.Layer, Shape, error)) Type {
	return Type{
		Options: func() any { o := defaults; return &o },
		Named:   named,
		Build: func(ctx *Context, opts any) (graph.Layer, Shape, error) {
			o, ok := opts.(*O)
			if !ok {
				return nil, nil, fmt.Errorf("options are %T, expected *%T", opts, defaults)
			}
			return build(ctx, *o)
		},
	}
}

// Types holds the registered layer types.
var Types = registry.New[Type]("layer type")

// Register adds a layer type under name, for use in configs. Call it from an init function; it
// panics on a duplicate name.
func Register(name string, t Type) {
	if t.Options == nil || t.Build == nil {
		panic(fmt.Sprintf("layers: type %q needs Options and Build", name))
	}
	Types.Register(name, t)
}
