// Package yamldoc is the one way lwca reads YAML it is given: run configs, sweeps, "--set"
// values and the configs of run directories. It bounds what a document may cost before any
// of it is used: a file holds at most MaxBytes, and a document, with every alias expanded,
// at most MaxNodes nodes. yaml.v3 keeps an alias as a pointer to its anchor, so a few lines
// of nested aliases (an "alias bomb") stand for billions of nodes that any code walking or
// copying the tree (flow rendering, decoding) would materialise.
package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

const (
	// MaxBytes bounds a YAML file; configs are a few kilobytes.
	MaxBytes = 1 << 20
	// MaxNodes bounds a document's nodes with aliases expanded; the shipped configs
	// (ResNet-20 declared layer by layer included) hold at most a few thousand.
	MaxNodes = 100_000
)

// Error is a document refused for its size or its aliases. Line is 0 when the problem
// has no line (a file too large).
type Error struct {
	File string // "" for a value not read from a file, such as a --set value
	Line int
	Msg  string
}

func (e *Error) Error() string {
	pos := e.File
	if e.Line > 0 {
		if pos != "" {
			pos += ":"
		}
		pos += fmt.Sprint(e.Line)
	}
	if pos == "" {
		return e.Msg
	}
	return pos + ": " + e.Msg
}

// ReadFile reads the file at path, refusing one larger than MaxBytes.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBytes {
		return nil, &Error{File: path, Msg: fmt.Sprintf("larger than %d bytes, the most a YAML file may hold", MaxBytes)}
	}
	return b, nil
}

// Parse returns the root node of the single document in src, or nil if src holds none;
// file names src in errors. It refuses src above MaxBytes, a second document, and a
// document whose expansion exceeds MaxNodes, with an *Error at the alias that crosses
// the bound. YAML syntax errors are yaml.v3's, unchanged ("yaml: line N: ...").
func Parse(file string, src []byte) (*yaml.Node, error) {
	if len(src) > MaxBytes {
		return nil, &Error{File: file, Msg: fmt.Sprintf("%d bytes, more than the %d a YAML document may hold", len(src), MaxBytes)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, err
	default:
		return nil, fmt.Errorf("yaml: line %d: a configuration must be a single document", extra.Line)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	c := counter{size: map[*yaml.Node]int{}}
	size := c.expanded(root)
	if c.cycle != nil {
		return nil, &Error{File: file, Line: c.cycle.Line, Msg: fmt.Sprintf("the alias *%s is inside the value it names, which would never end", c.cycle.Value)}
	}
	if size > MaxNodes {
		budget := MaxNodes
		n := c.culprit(root, &budget)
		msg := fmt.Sprintf("more than %d nodes, the most a YAML document may hold", MaxNodes)
		if n.Kind == yaml.AliasNode {
			msg = fmt.Sprintf("the alias *%s takes the document past %d nodes with its aliases expanded, the most a YAML document may hold", n.Value, MaxNodes)
		}
		return nil, &Error{File: file, Line: n.Line, Msg: msg}
	}
	return root, nil
}

// counter counts the nodes of a tree with its aliases expanded.
type counter struct {
	size  map[*yaml.Node]int // memo: the expanded size of each node met, capped at MaxNodes+1
	cycle *yaml.Node         // the first alias met inside its own anchor's value
}

const counting = -1 // size of a node whose count is under way

// expanded returns the number of nodes n stands for, capped at MaxNodes+1 so that
// nothing overflows. Memoising makes it linear in the document.
func (c *counter) expanded(n *yaml.Node) int {
	if s, ok := c.size[n]; ok {
		return s
	}
	c.size[n] = counting
	s := 1
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		// yaml.v3 accepts an alias inside its anchor's own value.
		if c.size[n.Alias] == counting {
			if c.cycle == nil {
				c.cycle = n
			}
			c.size[n] = MaxNodes + 1
			return MaxNodes + 1
		}
		s += c.expanded(n.Alias)
	}
	for _, e := range n.Content {
		s = min(s+c.expanded(e), MaxNodes+1)
	}
	s = min(s, MaxNodes+1)
	c.size[n] = s
	return s
}

// culprit returns the node, in document order, at which the expanded count first exceeds
// the budget: an alias, unless the document is simply that large.
func (c *counter) culprit(n *yaml.Node, budget *int) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		if *budget -= c.expanded(n); *budget < 0 {
			return n
		}
		return nil
	}
	if *budget--; *budget < 0 {
		return n
	}
	for _, e := range n.Content {
		if r := c.culprit(e, budget); r != nil {
			return r
		}
	}
	return nil
}
