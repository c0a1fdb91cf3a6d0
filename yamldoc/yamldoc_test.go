package yamldoc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bomb returns a document whose key holds levels of nested aliases, ten copies each:
// 10^levels scalars once expanded.
func bomb(levels int) string {
	var b strings.Builder
	b.WriteString("name: bomb\nbomb:\n  - &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "  - &a%d [%s]\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	return b.String()
}

func TestParseRefusesAliasBomb(t *testing.T) {
	_, err := Parse("bomb.yaml", []byte(bomb(10)))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an *Error", err)
	}
	// a0..a3 stand for 11, 121, 1221, 12221 nodes; the ten *a3 of a4 cross 100000.
	if e.File != "bomb.yaml" || e.Line != 7 || !strings.Contains(e.Msg, "alias *a3") {
		t.Errorf("got %q, want the alias *a3 at bomb.yaml:7", err)
	}
}

func TestParseAllowsModestAliases(t *testing.T) {
	root, err := Parse("ok.yaml", []byte(bomb(4)))
	if err != nil || root == nil {
		t.Fatalf("Parse: %v", err)
	}
}

func TestParseRefusesLargeDocument(t *testing.T) {
	src := strings.Repeat("# padding\n", MaxBytes/10+1)
	if _, err := Parse("big.yaml", []byte(src)); err == nil || !strings.HasPrefix(err.Error(), "big.yaml: ") {
		t.Fatalf("got %v, want big.yaml refused", err)
	}
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), p+": larger than") {
		t.Fatalf("ReadFile: got %v, want %s refused", err, p)
	}
}

func TestParseSingleDocument(t *testing.T) {
	if _, err := Parse("two.yaml", []byte("a: 1\n---\nb: 2\n")); err == nil || !strings.Contains(err.Error(), "line 2:") {
		t.Fatalf("got %v, want a second document refused at its line 2", err)
	}
	if n, err := Parse("empty.yaml", []byte("# nothing\n")); n != nil || err != nil {
		t.Fatalf("got %v, %v for an empty document", n, err)
	}
}
