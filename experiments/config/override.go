package config

import (
	"reflect"
	"strings"

	"github.com/lwca/lwca/yamldoc"
	"gopkg.in/yaml.v3"
)

// override applies one "a.b.c=value" argument to the mapping root. The
// nodes it adds are recorded in d.origin so that later problems with them
// name the argument. It returns the problem and false if the argument is
// malformed or names an unknown key.
func (d *decoder) override(root *yaml.Node, arg string) (Problem, bool) {
	pos := "--set " + arg
	path, text, ok := strings.Cut(arg, "=")
	path = strings.TrimSpace(path)
	if !ok {
		return Problem{Pos: pos, Msg: "expected key=value, such as optim.lr=0.05"}, false
	}
	if path == "" {
		return Problem{Pos: pos, Msg: "missing key before '='"}, false
	}

	val, err := yamldoc.Parse("", []byte(text))
	if err != nil {
		// The value is one line; drop the line number yaml.v3 may add.
		p := yamlProblem("", err)
		return Problem{Pos: pos, Field: path, Msg: strings.Replace(p.Msg, "invalid YAML", "invalid YAML value", 1)}, false
	}
	if val == nil {
		// "key=" sets no value: an empty string or list, or an error for numbers.
		val = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	// Check the whole path before changing the tree.
	keys := strings.Split(path, ".")
	t := reflect.TypeOf(Config{})
	for i, key := range keys {
		prefix := strings.Join(keys[:i], ".")
		if t.Kind() != reflect.Struct {
			return Problem{Pos: pos, Field: path, Msg: prefix + " is not a section and has no keys"}, false
		}
		f, ok := fieldsOf(t)[key]
		if !ok && (t == optimType || t == modelType) && i == len(keys)-1 {
			break // an option of the optimiser or architecture: its options struct decides
		}
		if !ok {
			return Problem{Pos: pos, Field: join(prefix, key),
				Msg: "unknown key; valid keys" + in(prefix) + ": " + keyList(t)}, false
		}
		t = t.Field(f).Type
	}

	d.mark(val, pos)
	n := root
	for _, key := range keys[:len(keys)-1] {
		// Descend, copying the next mapping so that nodes shared through
		// an alias are not changed elsewhere.
		j := findKey(n, key)
		var next *yaml.Node
		if j >= 0 {
			if c := resolve(n.Content[j+1]); c.Kind == yaml.MappingNode {
				cp := *c
				cp.Content = append([]*yaml.Node(nil), c.Content...)
				next = &cp
				if o, ok := d.origin[c]; ok {
					d.origin[next] = o
				}
			}
		}
		if next == nil {
			// Missing, empty or not a mapping: the override supersedes it.
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			d.origin[next] = pos
		}
		if j < 0 {
			n.Content = append(n.Content, d.newKey(key, pos), next)
		} else {
			n.Content[j+1] = next
		}
		n = next
	}
	last := keys[len(keys)-1]
	if j := findKey(n, last); j >= 0 {
		n.Content[j+1] = val
	} else {
		n.Content = append(n.Content, d.newKey(last, pos), val)
	}
	return Problem{}, true
}

// findKey returns the index in the mapping node n of the first key named
// key, or -1.
func findKey(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			return i
		}
	}
	return -1
}

func (d *decoder) newKey(key, pos string) *yaml.Node {
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	d.origin[k] = pos
	return k
}

// mark records pos as the origin of n and everything below it.
func (d *decoder) mark(n *yaml.Node, pos string) {
	d.origin[n] = pos
	for _, c := range n.Content {
		d.mark(c, pos)
	}
}
