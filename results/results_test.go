package results

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestLogSkipsAndTruncatesPartialLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.jsonl")
	l, err := OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := l.Append(map[string]int{"step": i}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	// A crash mid-write leaves a fragment.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"step":3,"lo`)
	f.Close()
	var steps []int
	read := func() {
		steps = nil
		if err := ReadLog(path, func(b []byte) error {
			var r struct{ Step int }
			if err := json.Unmarshal(b, &r); err != nil {
				return err
			}
			steps = append(steps, r.Step)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if len(steps) != 3 {
		t.Fatalf("read %v, want 3 complete records", steps)
	}
	l, err = OpenLog(path) // reopening cuts the fragment
	if err != nil {
		t.Fatal(err)
	}
	l.Append(map[string]int{"step": 3})
	l.Close()
	read()
	if len(steps) != 4 || steps[3] != 3 {
		t.Fatalf("after resume read %v", steps)
	}
}

func TestWriteFileReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	if err := WriteJSON(path, map[string]string{"status": "running"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(path, map[string]string{"status": "completed"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "{\n  \"status\": \"completed\"\n}\n" {
		t.Fatalf("got %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}
