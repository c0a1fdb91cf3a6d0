package registry

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := New[int]("widget")
	r.Register("beta", 2)
	r.Register("alpha", 1)
	if v, err := r.Lookup("alpha"); err != nil || v != 1 {
		t.Fatalf("Lookup(alpha) = %v, %v", v, err)
	}
	if !slices.Equal(r.Names(), []string{"alpha", "beta"}) {
		t.Errorf("Names() = %v", r.Names())
	}
	_, err := r.Lookup("alpah")
	var u *UnknownError
	if !errors.As(err, &u) || u.Name != "alpah" {
		t.Fatalf("Lookup(alpah) error %v", err)
	}
	if msg := err.Error(); msg != `unknown widget "alpah" (did you mean alpha?); registered: alpha, beta` {
		t.Errorf("message %q", msg)
	}
	if _, err := r.Lookup("zzzzzzzz"); err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a distant name got a suggestion: %v", err)
	}
	if _, err := r.Lookup(""); err == nil || !strings.HasPrefix(err.Error(), "missing widget; registered: alpha, beta") {
		t.Errorf("empty name: %v", err)
	}
}

func TestRegisterPanics(t *testing.T) {
	for _, name := range []string{"", " x", "dup"} {
		r := New[int]("widget")
		r.Register("dup", 1)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", name)
				}
			}()
			r.Register(name, 2)
		}()
	}
}

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"conv2d", "conv2d", 0}, {"batchnrom", "batchnorm", 1}, {"ab", "ba", 1}} {
		if got := distance(c.a, c.b); got != c.d {
			t.Errorf("distance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}
