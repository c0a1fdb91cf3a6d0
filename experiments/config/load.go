package config

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lwca/lwca/layers"
	"github.com/lwca/lwca/nets"
	"github.com/lwca/lwca/optim"
	"github.com/lwca/lwca/registry"
	"github.com/lwca/lwca/yamldoc"
	"gopkg.in/yaml.v3"
)

// Load reads the configuration file at path, applies the overrides and
// validates the result. See Parse for the override syntax.
func Load(path string, overrides []string) (Config, error) {
	src, err := yamldoc.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(path, src, overrides)
}

// Parse decodes the YAML document src, applies the overrides and validates
// the result. Keys absent from src keep the values of Default, except that
// name defaults to the base name of name without its extension. The name
// is also used in error messages.
//
// Each override has the form "a.b.c=value": a dotted path of known keys,
// and a value parsed as YAML, so "analysis.p=[0.5, 1]" sets a list and
// "data.synthetic={classes: 3}" sets part of a section. Overrides are
// applied in order, after the file and before validation; a missing key is
// created, an existing one replaced.
//
// Any problem - YAML syntax, an unknown key, a value of the wrong type or
// out of range, a bad override - makes Parse return the zero Config and an
// *Error listing all of them.
func Parse(name string, src []byte, overrides []string) (Config, error) {
	file := name
	if file == "" {
		file = "<input>"
	}
	d := &decoder{
		file:   file,
		origin: make(map[*yaml.Node]string),
		pos:    make(map[string]string),
		failed: make(map[string]bool),

		setIndex: make(map[string]int),
	}

	root, err := yamldoc.Parse(file, src)
	if err != nil {
		return Config{}, &Error{File: file, Problems: []Problem{yamlProblem(file, err)}}
	}
	if root == nil || isNull(root) {
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1, Column: 1}
	}
	if root.Kind == yaml.MappingNode {
		// Otherwise decoding reports the document itself as wrong, and
		// there is nowhere to apply the overrides.
		for i, o := range overrides {
			d.setIndex["--set "+o] = i
			if p, ok := d.override(root, o); !ok {
				d.problems = append(d.problems, p)
			}
		}
	}

	cfg := Default()
	cfg.Name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	if name == "" {
		cfg.Name = ""
	}
	d.value("", nil, root, reflect.ValueOf(&cfg).Elem())
	if _, given := d.pos["model.arch"]; !given && len(cfg.Model.Layers) > 0 {
		cfg.Model.Arch = ArchLayers
	}
	d.resolvePath(name, &cfg)

	for _, p := range cfg.check() {
		if d.hasFailed(p.Field) {
			// The value is still the default; the decoding problem says it all.
			continue
		}
		p.Pos = d.position(p.Field)
		d.problems = append(d.problems, p)
	}
	if len(d.problems) > 0 {
		d.sort()
		return Config{}, &Error{File: file, Problems: d.problems}
	}
	return cfg, nil
}

// Override returns a copy of c with the overrides applied, validated as
// by Parse.
func (c Config) Override(overrides ...string) (Config, error) {
	src, err := c.Marshal()
	if err != nil {
		return Config{}, err
	}
	return Parse("<resolved>", src, overrides)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlProblem turns a YAML syntax error into a Problem positioned at its
// line, when yaml.v3 names one.
func yamlProblem(file string, err error) Problem {
	if e, ok := errors.AsType[*yamldoc.Error](err); ok {
		pos := file
		if e.Line > 0 {
			pos = file + ":" + strconv.Itoa(e.Line)
		}
		return Problem{Pos: pos, Msg: e.Msg}
	}
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return Problem{Pos: file + ":" + m[1], Msg: "invalid YAML: " + m[2]}
	}
	return Problem{Pos: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// decoder decodes a node tree into a Config, collecting problems.
type decoder struct {
	file string

	// origin maps the nodes an override created to its argument, so that
	// problems with them name the override instead of a line.
	origin map[*yaml.Node]string

	// pos maps the dotted path of every decoded field or list element to
	// the position of its value.
	pos map[string]string

	// failed holds the paths whose value could not be decoded.
	failed map[string]bool

	// setIndex maps the position of an override to its index.
	setIndex map[string]int

	problems []Problem
}

// sort orders the problems as a reader meets them: the file's by line,
// then the overrides' in argument order, then those without a position.
// Problems at the same place keep the order they were found in.
func (d *decoder) sort() {
	rank := func(p Problem) (group, n int) {
		if i, ok := d.setIndex[p.Pos]; ok {
			return 1, i
		}
		if p.Pos == "" {
			return 2, 0
		}
		line, _ := strconv.Atoi(strings.TrimPrefix(p.Pos, d.file+":"))
		return 0, line
	}
	slices.SortStableFunc(d.problems, func(a, b Problem) int {
		ga, na := rank(a)
		gb, nb := rank(b)
		return cmp.Or(cmp.Compare(ga, gb), cmp.Compare(na, nb))
	})
}

func (d *decoder) errorf(pos, field, format string, args ...any) {
	d.problems = append(d.problems, Problem{Pos: pos, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// at returns the position of node n, reached through key (nil for list
// elements and the root).
func (d *decoder) at(key, n *yaml.Node) string {
	if o, ok := d.origin[n]; ok {
		return o
	}
	if key != nil {
		n = key
	}
	return d.file + ":" + strconv.Itoa(n.Line)
}

// position returns the position of the value at path, or of its nearest
// recorded ancestor, or "" if none was recorded.
func (d *decoder) position(path string) string {
	for path != "" {
		if p, ok := d.pos[path]; ok {
			return p
		}
		path = parent(path)
	}
	return ""
}

// hasFailed reports whether path or one of its ancestors failed to decode.
func (d *decoder) hasFailed(path string) bool {
	for ; path != ""; path = parent(path) {
		if d.failed[path] {
			return true
		}
	}
	return d.failed[""] // the document is not a mapping
}

// parent strips the last element (".key" or "[i]") from a dotted path.
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	// An alias always names a non-alias node, but guard against a
	// hand-built cycle.
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// value decodes n, found under key at path, into v.
func (d *decoder) value(path string, key, n *yaml.Node, v reflect.Value) {
	pos := d.at(key, n)
	if path != "" {
		d.pos[path] = pos
	}
	fail := func(format string, args ...any) {
		d.failed[path] = true
		d.errorf(pos, path, format, args...)
	}
	switch v.Type() {
	case specType:
		d.spec(path, pos, n, v)
		return
	case optimType:
		if n := resolve(n); n.Kind == yaml.MappingNode {
			d.optim(path, n, v)
			return
		}
	case modelType:
		if n := resolve(n); n.Kind == yaml.MappingNode {
			d.model(path, n, v)
			return
		}
	}
	src := n
	n = resolve(n)

	switch v.Kind() {
	case reflect.Struct:
		if isNull(n) {
			return // an empty section keeps its defaults
		}
		if n.Kind != yaml.MappingNode {
			fail("expected a mapping with keys %s, got %s", keyList(v.Type()), describe(n))
			return
		}
		d.mapping(path, n, v)

	case reflect.Slice:
		var elems []*yaml.Node
		switch {
		case isNull(n):
		case n.Kind == yaml.SequenceNode:
			elems = n.Content
		case n.Kind == yaml.ScalarNode:
			elems = []*yaml.Node{src} // a single value is a one-element list
		default:
			fail("expected %s, got %s", typeName(v.Type()), describe(n))
			return
		}
		if len(elems) == 0 {
			v.SetZero()
			return
		}
		s := reflect.MakeSlice(v.Type(), len(elems), len(elems))
		for i, e := range elems {
			d.value(fmt.Sprintf("%s[%d]", path, i), nil, e, s.Index(i))
		}
		v.Set(s)

	default:
		if !d.scalar(pos, path, n, v) {
			d.failed[path] = true
		}
	}
}

// other decodes n into v, of a kind the schema does not use yet (a map,
// say), leaving the work to yaml.v3.
func (d *decoder) other(pos, path string, n *yaml.Node, v reflect.Value) bool {
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.errorf(pos, path, "%v", strings.TrimPrefix(err.Error(), "yaml: "))
		return false
	}
	return true
}

// mapping decodes the mapping node n into the struct v, checking every
// key against the struct's yaml tags.
func (d *decoder) mapping(path string, n *yaml.Node, v reflect.Value) {
	fields := fieldsOf(v.Type())
	seen := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		kpos := d.at(nil, k)
		if _, ok := d.origin[val]; ok {
			kpos = d.origin[val]
		}
		rk := resolve(k)
		if rk.Kind != yaml.ScalarNode || isNull(rk) {
			d.errorf(kpos, path, "keys must be names, got %s; valid keys%s: %s", describe(rk), in(path), keyList(v.Type()))
			continue
		}
		name := rk.Value
		f, ok := fields[name]
		if !ok {
			msg := "unknown key"
			if rk.ShortTag() == "!!merge" {
				msg = "merge keys (<<) are not supported"
			}
			d.errorf(kpos, join(path, name), "%s; valid keys%s: %s", msg, in(path), keyList(v.Type()))
			continue
		}
		if first, dup := seen[name]; dup {
			d.errorf(kpos, join(path, name), "duplicate key; first given at %s", d.at(first, first))
			continue
		}
		seen[name] = k
		d.value(join(path, name), k, val, v.Field(f))
	}
}

func in(path string) string {
	if path == "" {
		return " at top level"
	}
	return " in " + path
}

// scalar decodes the scalar node n into v, whose kind is a basic type,
// insisting on the YAML type that matches it. It reports whether it
// succeeded.
func (d *decoder) scalar(pos, path string, n *yaml.Node, v reflect.Value) bool {
	if !basicKind(v.Kind()) {
		return d.other(pos, path, n, v)
	}
	fail := func() bool {
		d.errorf(pos, path, "expected %s, got %s", typeName(v.Type()), describe(n))
		return false
	}
	outOfRange := func() bool {
		d.errorf(pos, path, "%s is out of range: expected %s", n.Value, rangeName(v.Type()))
		return false
	}
	if n.Kind != yaml.ScalarNode {
		return fail()
	}
	tag := n.ShortTag()
	var ok bool
	switch v.Kind() {
	case reflect.String:
		switch tag {
		case "!!null":
			v.SetString("")
			return true
		case "!!binary":
			ok = true
		default:
			// Any other scalar is text: name: 2024 is the string "2024".
			v.SetString(n.Value)
			return true
		}
	case reflect.Bool:
		ok = tag == "!!bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		// yaml.v3 would truncate 2.5 to 2; only integers are integers.
		ok = tag == "!!int"
	case reflect.Float32, reflect.Float64:
		ok = tag == "!!int" || tag == "!!float"
	}
	if !ok {
		if numberOutOfRange(n, v.Kind()) {
			return outOfRange()
		}
		return fail()
	}
	// Decode into a fresh value so that a failure leaves v untouched.
	p := reflect.New(v.Type())
	if err := n.Decode(p.Interface()); err != nil {
		// An integer out of range, or negative where unsigned.
		if strings.HasPrefix(n.Value, "-") && strings.HasPrefix(typeName(v.Type()), "a non-negative") {
			return fail()
		}
		return outOfRange()
	}
	v.Set(p.Elem())
	return true
}

func basicKind(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// typeName describes the YAML value that decodes into t.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct:
		return "a mapping"
	case reflect.Slice:
		e := typeName(t.Elem())
		if i := strings.IndexByte(e, ' '); i >= 0 && !strings.Contains(e, " or ") {
			e = e[i+1:] + "s"
		}
		return "a list of " + e
	}
	return t.String()
}

// numberOutOfRange reports whether the plain scalar n is a number too large for the numeric
// kind k: yaml.v3 resolves a float beyond ±1.8e308 ("1e400") as a string and an integer
// beyond 64 bits as a float.
func numberOutOfRange(n *yaml.Node, k reflect.Kind) bool {
	if n.Style != 0 {
		return false // quoted: meant as a string
	}
	s := strings.ReplaceAll(n.Value, "_", "")
	switch k {
	case reflect.Float32, reflect.Float64:
		_, err := strconv.ParseFloat(s, 64)
		return errors.Is(err, strconv.ErrRange)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, err := strconv.ParseInt(s, 0, 64)
		return errors.Is(err, strconv.ErrRange)
	}
	return false
}

// rangeName names the values a numeric type holds.
func rangeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b := t.Bits()
		return fmt.Sprintf("an integer from %d to %d", int64(-1)<<(b-1), uint64(1)<<(b-1)-1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("an integer from 0 to %d", uint64(1<<t.Bits()-1))
	case reflect.Float32:
		return "a number of magnitude at most 3.4e38"
	}
	return "a number of magnitude at most 1.8e308"
}

// describe names the kind and content of a node for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		var kind string
		switch n.ShortTag() {
		case "!!null":
			return "no value"
		case "!!str":
			kind = "string"
		case "!!int":
			kind = "integer"
		case "!!float":
			kind = "number"
		case "!!bool":
			kind = "boolean"
		default:
			kind = n.ShortTag()
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("%s %q", kind, v)
	}
	return "nothing"
}

// fieldsOf maps the yaml key of each field of the struct type t to its
// index.
func fieldsOf(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if k := yamlKey(t.Field(i)); k != "" {
			m[k] = i
		}
	}
	return m
}

// keyList lists the yaml keys of the struct type t in field order.
func keyList(t reflect.Type) string {
	var keys []string
	for i := range t.NumField() {
		if k := yamlKey(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	return strings.Join(keys, ", ")
}

// yamlKey returns the key of a struct field, or "" if it has none.
func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "-" {
		return ""
	}
	if tag == "" {
		return strings.ToLower(f.Name) // yaml.v3's rule, so Marshal agrees
	}
	return tag
}

// resolvePath makes a relative data.path absolute: relative to the config file's directory
// when it was written in a file on disk, to the working directory when it came from --set. The
// resolved config then means the same wherever it is read from (a run directory, a resume).
// A path in the data root ($LWCA_DATA/…) stays as written: it means the same on every machine
// (other $ paths are left for validation to refuse).
func (d *decoder) resolvePath(name string, cfg *Config) {
	p := cfg.Data.Path
	if p == "" || strings.HasPrefix(p, "$") || filepath.IsAbs(p) || d.hasFailed("data.path") {
		return
	}
	if !strings.HasPrefix(d.position("data.path"), "--set") {
		if fi, err := os.Stat(name); err != nil || fi.IsDir() {
			return // not a file on disk: leave the path as given
		}
		p = filepath.Join(filepath.Dir(name), p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		cfg.Data.Path = abs
	}
}

var specType = reflect.TypeOf(layers.Spec{})

// spec decodes one declared layer: a registered type's name, or a mapping of type, name and
// the options of that type, which decode strictly into the type's own options struct.
func (d *decoder) spec(path, pos string, n *yaml.Node, v reflect.Value) {
	fail := func(at, field, format string, args ...any) {
		d.failed[path] = true
		d.errorf(at, field, format, args...)
	}
	n = resolve(n)
	var typ, name string
	typPos := pos
	var rest []*yaml.Node
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		typ = n.Value
	case n.Kind == yaml.MappingNode:
		given := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := resolve(n.Content[i]), resolve(n.Content[i+1])
			kpos := d.at(nil, n.Content[i])
			switch {
			case k.Kind == yaml.ScalarNode && k.Value == "type":
				if val.Kind != yaml.ScalarNode || val.ShortTag() != "!!str" {
					fail(kpos, join(path, "type"), "expected a layer type name, got %s", describe(val))
					return
				}
				typ, typPos, given = val.Value, kpos, true
			case k.Kind == yaml.ScalarNode && k.Value == "name":
				if val.Kind != yaml.ScalarNode || isNull(val) {
					fail(kpos, join(path, "name"), "expected a layer name, got %s", describe(val))
					return
				}
				name = val.Value
				d.pos[join(path, "name")] = kpos
				if err := layers.CheckName(name); err != nil {
					fail(kpos, join(path, "name"), "%v", err)
				}
			default:
				rest = append(rest, n.Content[i], n.Content[i+1])
			}
		}
		if !given {
			fail(pos, join(path, "type"), "missing; a layer is a type name or a mapping with type, name and the type's options; registered types: %s",
				strings.Join(layers.Types.Names(), ", "))
			return
		}
	default:
		fail(pos, path, "expected a layer: a type name, or a mapping with type, name and the type's options; got %s", describe(n))
		return
	}
	d.pos[join(path, "type")] = typPos
	t, err := layers.Types.Lookup(typ)
	if err != nil {
		fail(typPos, join(path, "type"), "%v", err)
		return
	}
	opts := t.Options()
	ov := reflect.ValueOf(opts).Elem()
	if len(rest) > 0 && ov.NumField() == 0 {
		fail(d.at(nil, rest[0]), join(path, resolve(rest[0]).Value), "unknown key; layer type %s takes no options (only type and name)", typ)
		return
	}
	d.mapping(path, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: rest}, ov)
	if c, ok := opts.(registry.Checker); ok {
		for _, p := range c.Check() {
			f := join(path, p.Field)
			if !d.hasFailed(f) {
				d.errorf(d.position(f), f, "%s", p.Msg)
			}
		}
	}
	v.Set(reflect.ValueOf(layers.Spec{Type: typ, Name: name, Options: opts, Pos: pos}))
}

var (
	optimType = reflect.TypeOf(OptimConfig{})
	modelType = reflect.TypeOf(ModelConfig{})
)

// optim decodes the optim section: its own keys into OptimConfig, the others into the options
// struct of the registered optimiser that type names.
func (d *decoder) optim(path string, n *yaml.Node, v reflect.Value) {
	o := v.Addr().Interface().(*OptimConfig)
	o.Options = d.withOptions(path, n, v, "type", o.Type, func(name string) (any, bool) {
		f, err := optim.Optimizers.Lookup(name)
		if err != nil {
			return nil, false
		}
		return f.Options(), true
	})
}

// model decodes the model section: its own keys into ModelConfig, the others into the options
// struct of the registered architecture that arch names, if it has one.
func (d *decoder) model(path string, n *yaml.Node, v reflect.Value) {
	m := v.Addr().Interface().(*ModelConfig)
	m.Options = d.withOptions(path, n, v, "arch", m.Arch, func(name string) (any, bool) {
		a, err := nets.Archs.Lookup(name)
		if err != nil {
			return nil, false
		}
		if a.Options == nil {
			return nil, true
		}
		return a.Options(), true
	})
}

// withOptions decodes the mapping n of a section whose entry, named by the section's key
// (current unless n sets it), is registered with an options struct of its own: the section's
// keys go to its struct v, the rest strictly into the entry's options, which it returns.
// options returns the named entry's default options and whether the name is registered; with
// an unregistered name the other keys are left alone, the name's own problem saying it all.
func (d *decoder) withOptions(path string, n *yaml.Node, v reflect.Value, key, current string, options func(string) (any, bool)) any {
	name := current
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.Value == key && val.Kind == yaml.ScalarNode {
			name = val.Value
		}
	}
	own := fieldsOf(v.Type())
	opts, known := options(name)
	optKeys := map[string]int{}
	if opts != nil {
		optKeys = fieldsOf(reflect.TypeOf(opts).Elem())
	}
	common := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		_, isOwn := own[k.Value]
		_, isOpt := optKeys[k.Value]
		switch {
		case isOwn || k.Kind != yaml.ScalarNode:
			common.Content = append(common.Content, n.Content[i], n.Content[i+1])
		case isOpt:
			rest.Content = append(rest.Content, n.Content[i], n.Content[i+1])
		case known && opts == nil:
			d.errorf(d.at(nil, n.Content[i]), join(path, k.Value), "unknown key; valid keys in %s: %s", path, keyList(v.Type()))
		case known:
			keys := keyList(v.Type())
			if extra := keyList(reflect.TypeOf(opts).Elem()); extra != "" {
				keys += ", " + extra
			}
			d.errorf(d.at(nil, n.Content[i]), join(path, k.Value), "unknown key; valid keys in %s (%s %s): %s", path, key, name, keys)
		}
	}
	d.mapping(path, common, v)
	if opts != nil {
		d.mapping(path, rest, reflect.ValueOf(opts).Elem())
	}
	return opts
}
