// Package registry holds lwca's named extension points: the layer types, architectures,
// optimisers and initialisers that a YAML config can name. Each kind has one Registry, filled
// by Register calls in init functions, the way database/sql drivers and image formats
// register: lwca's own entries register exactly as a user's do.
//
//	var Optimizers = registry.New[Factory]("optimiser")
//
//	func init() { Optimizers.Register("adam", adamFactory) }
//
//	f, err := Optimizers.Lookup("adma") // error: unknown optimiser "adma" (did you mean adam?); registered: adam, adamw, sgd
package registry

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Registry maps names to entries of one kind. It is safe for concurrent use; in practice it
// is written in init functions and read afterwards.
type Registry[T any] struct {
	kind    string
	mu      sync.RWMutex
	entries map[string]T
}

// New returns an empty registry of entries of the named kind ("layer type", "optimiser"),
// used in error messages.
func New[T any](kind string) *Registry[T] {
	return &Registry[T]{kind: kind, entries: map[string]T{}}
}

// Kind names what the registry holds.
func (r *Registry[T]) Kind() string { return r.kind }

// Register adds an entry. Like database/sql.Register it panics on an empty or duplicate name:
// both are programming errors, found the first time the program starts.
func (r *Registry[T]) Register(name string, entry T) {
	if name == "" || strings.TrimSpace(name) != name {
		panic(fmt.Sprintf("registry: invalid %s name %q", r.kind, name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.entries[name]; dup {
		panic(fmt.Sprintf("registry: %s %q registered twice", r.kind, name))
	}
	r.entries[name] = entry
}

// Has reports whether name is registered.
func (r *Registry[T]) Has(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.entries[name]
	return ok
}

// Lookup returns the entry registered as name, or an *UnknownError that lists the registered
// names and suggests the closest one.
func (r *Registry[T]) Lookup(name string) (T, error) {
	r.mu.RLock()
	e, ok := r.entries[name]
	r.mu.RUnlock()
	if !ok {
		return e, &UnknownError{Kind: r.kind, Name: name, Registered: r.Names()}
	}
	return e, nil
}

// Names returns the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.entries))
	for n := range r.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// UnknownError is the error of a lookup of a name that is not registered.
type UnknownError struct {
	Kind       string
	Name       string
	Registered []string
}

func (e *UnknownError) Error() string {
	var b strings.Builder
	if e.Name == "" {
		fmt.Fprintf(&b, "missing %s", e.Kind)
	} else {
		fmt.Fprintf(&b, "unknown %s %q", e.Kind, e.Name)
		if s := Suggest(e.Name, e.Registered); s != "" {
			fmt.Fprintf(&b, " (did you mean %s?)", s)
		}
	}
	fmt.Fprintf(&b, "; registered: %s", strings.Join(e.Registered, ", "))
	return b.String()
}

// Suggest returns the candidate closest to name by edit distance, if it is close enough to be
// a likely typo (fewer edits than a third of the name's length plus one), or "".
func Suggest(name string, candidates []string) string {
	best, bestD := "", len(name)/3+1
	for _, c := range candidates {
		if d := distance(strings.ToLower(name), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the edit distance between a and b over bytes, counting an insertion, a
// deletion, a substitution or a swap of neighbours as one edit (optimal string alignment):
// "batchnrom" is one edit from "batchnorm".
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// Problem is one range violation in an entry's options: the option's key (its yaml tag, or a
// dotted path below it) and what is wrong, with what was expected.
type Problem struct {
	Field string
	Msg   string
}

func (p Problem) String() string { return p.Field + ": " + p.Msg }

// Checker is implemented by options structs that check their own ranges. Configs report each
// problem with the file and line of the offending option.
type Checker interface {
	Check() []Problem
}
