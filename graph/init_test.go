package graph

import (
	"math/rand/v2"
	"testing"
)

func TestScaledHeInitialisers(t *testing.T) {
	he, err := InitByName("he")
	if err != nil {
		t.Fatal(err)
	}
	for name, scale := range map[string]float64{"he_x10": 10, "he_x100": 100} {
		scaled, err := InitByName(name)
		if err != nil {
			t.Fatal(err)
		}
		a, b := make([]float64, 64), make([]float64, 64)
		he(rand.New(rand.NewPCG(3, 4)), a, 32, 2)
		scaled(rand.New(rand.NewPCG(3, 4)), b, 32, 2)
		for i := range a {
			if a[i] == 0 || b[i] != scale*a[i] {
				t.Fatalf("%s value %d: %v, he %v; want exactly %g times a non-zero draw", name, i, b[i], a[i], scale)
			}
		}
	}
}
