package npy

import (
	"fmt"
	"math"
	"strings"
)

// The header is a Python literal. The parser below accepts the subset
// that .npy headers use: dicts, tuples, lists, strings, integers, True,
// False and None. Values are represented as
//
//	string, int64, bool, nil, tuple, list, dict

type (
	tuple []any
	list  []any
	dict  []keyVal
)

type keyVal struct {
	key string
	val any
}

// maxDepth bounds the nesting of brackets, so that hostile input cannot
// exhaust the stack.
const maxDepth = 64

type parser struct {
	s     []byte
	pos   int
	depth int
}

// parse reads one value that must span the whole input, apart from
// surrounding white space.
func (p *parser) parse() (any, error) {
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, p.errorf("unexpected %s after the value", p.peekDesc())
	}
	return v, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

// peekDesc describes the next byte for error messages.
func (p *parser) peekDesc() string {
	if p.pos >= len(p.s) {
		return "end of header"
	}
	return fmt.Sprintf("%q", p.s[p.pos])
}

func (p *parser) space() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r', '\f':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (any, error) {
	p.space()
	if p.pos >= len(p.s) {
		return nil, p.errorf("unexpected end of header, want a value")
	}
	switch c := p.s[p.pos]; {
	case c == '{' || c == '(' || c == '[':
		if p.depth >= maxDepth {
			return nil, p.errorf("nesting deeper than %d", maxDepth)
		}
		p.depth++
		defer func() { p.depth-- }()
		switch c {
		case '{':
			return p.dict()
		case '(':
			return p.tuple()
		}
		items, err := p.items(']')
		return list(items), err
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || c == '+' || ('0' <= c && c <= '9'):
		return p.integer()
	case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_':
		start := p.pos
		for p.pos < len(p.s) && isIdent(p.s[p.pos]) {
			p.pos++
		}
		switch name := string(p.s[start:p.pos]); name {
		case "True":
			return true, nil
		case "False":
			return false, nil
		case "None":
			return nil, nil
		default:
			p.pos = start
			return nil, p.errorf("unknown name %q", name)
		}
	default:
		return nil, p.errorf("unexpected %s, want a value", p.peekDesc())
	}
}

func isIdent(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_'
}

// items reads comma-separated values up to the closing byte; a trailing
// comma is allowed. The opening bracket is at p.pos.
func (p *parser) items(closing byte) ([]any, error) {
	p.pos++
	var out []any
	for {
		p.space()
		if p.pos < len(p.s) && p.s[p.pos] == closing {
			p.pos++
			return out, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.space()
		if p.pos >= len(p.s) {
			return nil, p.errorf("unexpected end of header, want ',' or %q", closing)
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case closing:
			p.pos++
			return out, nil
		default:
			return nil, p.errorf("unexpected %s, want ',' or %q", p.peekDesc(), closing)
		}
	}
}

// tuple reads a parenthesised expression: () and (x,) and (x, y) are
// tuples, while (x) is x itself, as in Python.
func (p *parser) tuple() (any, error) {
	p.pos++
	p.space()
	if p.pos < len(p.s) && p.s[p.pos] == ')' {
		p.pos++
		return tuple{}, nil
	}
	first, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos < len(p.s) && p.s[p.pos] == ')' {
		p.pos++
		return first, nil
	}
	if p.pos >= len(p.s) || p.s[p.pos] != ',' {
		return nil, p.errorf("unexpected %s, want ',' or ')'", p.peekDesc())
	}
	// Let items consume the rest, starting at the comma as if it were
	// the opening bracket.
	rest, err := p.items(')')
	if err != nil {
		return nil, err
	}
	return append(tuple{first}, rest...), nil
}

func (p *parser) dict() (any, error) {
	p.pos++
	var out dict
	for {
		p.space()
		if p.pos < len(p.s) && p.s[p.pos] == '}' {
			p.pos++
			return out, nil
		}
		k, err := p.value()
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			return nil, p.errorf("dict key is %s, want a string", describe(k))
		}
		p.space()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return nil, p.errorf("unexpected %s after key %q, want ':'", p.peekDesc(), key)
		}
		p.pos++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, keyVal{key, v})
		p.space()
		if p.pos >= len(p.s) {
			return nil, p.errorf("unexpected end of header, want ',' or '}'")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return out, nil
		default:
			return nil, p.errorf("unexpected %s, want ',' or '}'", p.peekDesc())
		}
	}
}

// str reads a quoted string with the escapes \\, \', \", \n and \t.
func (p *parser) str() (any, error) {
	q := p.s[p.pos]
	start := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch c {
		case q:
			return b.String(), nil
		case '\n':
			p.pos = start
			return nil, p.errorf("string not closed on its line")
		case '\\':
			if p.pos >= len(p.s) {
				break
			}
			e := p.s[p.pos]
			p.pos++
			switch e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				p.pos -= 2
				return nil, p.errorf("unsupported escape \\%c in string", e)
			}
		default:
			b.WriteByte(c)
		}
	}
	p.pos = start
	return nil, p.errorf("string not closed")
}

// integer reads an optionally signed decimal integer. A trailing L, which
// Python 2 wrote for long integers and numpy still tolerates in old
// headers, is skipped.
func (p *parser) integer() (any, error) {
	start := p.pos
	neg := false
	if c := p.s[p.pos]; c == '-' || c == '+' {
		neg = c == '-'
		p.pos++
		p.space()
	}
	digits := p.pos
	var n uint64
	for p.pos < len(p.s) && '0' <= p.s[p.pos] && p.s[p.pos] <= '9' {
		d := uint64(p.s[p.pos] - '0')
		if n > (math.MaxInt64-d)/10 {
			p.pos = start
			return nil, p.errorf("integer too large")
		}
		n = n*10 + d
		p.pos++
	}
	if p.pos == digits {
		return nil, p.errorf("unexpected %s, want a digit", p.peekDesc())
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'L' || p.s[p.pos] == 'l') {
		p.pos++
	}
	if p.pos < len(p.s) && (isIdent(p.s[p.pos]) || p.s[p.pos] == '.') {
		return nil, p.errorf("unsupported number syntax %q", p.s[start:p.pos+1])
	}
	if neg {
		return -int64(n), nil
	}
	return int64(n), nil
}

// kind names the Python type of a parsed value.
func kind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "int"
	case bool:
		return "bool"
	case nil:
		return "None"
	case tuple:
		return "tuple"
	case list:
		return "list"
	case dict:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// describe names a value and, for scalars, shows it.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case int64:
		return fmt.Sprintf("the int %d", x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	}
	return "a " + kind(v)
}
