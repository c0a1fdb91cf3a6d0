// Package flatyaml turns YAML into the one-line, dotted-path form of "--set path=value":
// Flatten maps a config file to its leaves by dotted path, Flow renders one value on one
// line. Comparing runs (which config keys differ) and expanding sweeps (each swept value as
// an override) both speak this form; the package is small and free of the training code so
// that both can use it.
package flatyaml

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/lwca/lwca/yamldoc"
	"gopkg.in/yaml.v3"
)

// Flatten reads a YAML mapping and returns every leaf by its dotted path: scalars as their
// text ("0.1", "batchnorm", "" for null), lists and empty mappings as one-line flow YAML
// ("[0.2, 0.5]", "{}"). Nested mappings are followed, so {optim: {lr: 0.1}} gives
// "optim.lr" → "0.1".
func Flatten(src []byte) (map[string]string, error) {
	root, err := yamldoc.Parse("", src)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if root == nil {
		return out, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: expected a mapping at top level", root.Line)
	}
	if err := flatten("", root, out); err != nil {
		return nil, err
	}
	return out, nil
}

func flatten(prefix string, n *yaml.Node, out map[string]string) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.MappingNode && len(n.Content) > 0 {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + key
			}
			if err := flatten(key, n.Content[i+1], out); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		if n.ShortTag() == "!!null" {
			out[prefix] = ""
		} else {
			out[prefix] = n.Value
		}
		return nil
	}
	s, err := Flow(n)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	out[prefix] = s
	return nil
}

// Flow renders the node n on one line in YAML flow style, as it would be typed after
// "--set key=": lists as [a, b], mappings as {k: v}, strings quoted only where YAML needs it.
// Aliases are expanded: n should come from yamldoc.Parse, which bounds their expansion.
func Flow(n *yaml.Node) (string, error) {
	c := flowCopy(n)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// flowCopy copies n with flow style on every collection and no comments.
func flowCopy(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	c := *n
	c.HeadComment, c.LineComment, c.FootComment, c.Anchor = "", "", "", ""
	if c.Kind == yaml.SequenceNode || c.Kind == yaml.MappingNode {
		c.Style |= yaml.FlowStyle
	}
	if c.Kind == yaml.ScalarNode && c.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		c.Style = yaml.DoubleQuotedStyle // a block scalar cannot stay on one line
	}
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, e := range n.Content {
		c.Content[i] = flowCopy(e)
	}
	return &c
}
