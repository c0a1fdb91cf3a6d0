package compare_test

import (
	"fmt"

	"github.com/lwca/lwca/compare"
)

// Runs whose configs differ only in seed form one group; mean and spread are taken over it.
func ExampleGroupRuns() {
	cfg := func(seed, lr string) map[string]string {
		return map[string]string{"seed": seed, "optim.lr": lr, "model.norm": "batchnorm"}
	}
	runs := []*compare.Run{
		{Label: "a", Config: cfg("1", "0.1")},
		{Label: "b", Config: cfg("2", "0.1")},
		{Label: "c", Config: cfg("1", "1.0")},
	}
	for _, g := range compare.GroupRuns(runs) {
		fmt.Println(g.Label, len(g.Runs), g.Seeds())
	}
	s := compare.Summarize([]float64{0.91, 0.93})
	fmt.Printf("%.2f ± %.4f\n", s.Mean, s.Std)
	// Output:
	// lr=0.1 2 [1 2]
	// lr=1.0 1 [1]
	// 0.92 ± 0.0141
}
