package graph

import (
	"math/rand/v2"
	"testing"
)

func TestHeX10IsTenTimesHe(t *testing.T) {
	he, err := InitByName("he")
	if err != nil {
		t.Fatal(err)
	}
	x10, err := InitByName("he_x10")
	if err != nil {
		t.Fatal(err)
	}
	a, b := make([]float64, 64), make([]float64, 64)
	he(rand.New(rand.NewPCG(3, 4)), a, 32, 2)
	x10(rand.New(rand.NewPCG(3, 4)), b, 32, 2)
	for i := range a {
		if a[i] == 0 || b[i] != 10*a[i] {
			t.Fatalf("value %d: he_x10 %v, he %v; want exactly 10 times a non-zero draw", i, b[i], a[i])
		}
	}
}
