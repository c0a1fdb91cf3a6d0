package flatyaml_test

import (
	"fmt"

	"github.com/lwca/lwca/flatyaml"
)

// Configs are compared as flat maps of dotted paths.
func ExampleFlatten() {
	a, _ := flatyaml.Flatten([]byte("seed: 1\noptim: {lr: 0.1, momentum: 0.9}\nanalysis: {p: [0.5, 1]}\n"))
	fmt.Println(a["optim.lr"], a["optim.momentum"], a["analysis.p"])
	// Output: 0.1 0.9 [0.5, 1]
}
