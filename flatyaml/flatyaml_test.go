package flatyaml

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestFlatten(t *testing.T) {
	a, err := Flatten([]byte("name: a\nseed: 1\noptim: {lr: 0.1, schedule: {milestones: [6, 9]}}\nanalysis:\n  layers: []\n  p: [0.5]\ndata:\n  path:\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"name": "a", "seed": "1", "optim.lr": "0.1", "optim.schedule.milestones": "[6, 9]",
		"analysis.layers": "[]", "analysis.p": "[0.5]", "data.path": ""}
	if len(a) != len(want) {
		t.Fatalf("Flatten = %v, want %v", a, want)
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("Flatten[%q] = %q, want %q", k, a[k], v)
		}
	}
	if _, err := Flatten([]byte("- a\n- b\n")); err == nil {
		t.Error("Flatten accepted a list document")
	}
}

func TestFlow(t *testing.T) {
	for src, want := range map[string]string{
		"- [0.5, 1]  # comment\n":      "[0.5, 1]",
		"- {lr: 0.1, momentum: 0.9}\n": "{lr: 0.1, momentum: 0.9}",
		"- - a\n  - b: c\n":            "[a, {b: c}]",
		"- |\n  two\n  lines\n":        `"two\nlines\n"`,
		"- &x [1]\n- *x\n":             "[1]",
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatal(err)
		}
		items := doc.Content[0].Content
		got, err := Flow(items[len(items)-1])
		if err != nil || got != want {
			t.Errorf("Flow(%q) = %q, %v; want %q", src, got, err, want)
		}
	}
}
