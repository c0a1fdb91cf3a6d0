package sweep_test

import (
	"fmt"
	"log"

	"github.com/lwca/lwca/experiments/sweep"
)

func ExampleParse() {
	src := []byte(`name: study
data: {dataset: synthetic}
sweep:
  model.norm: [none, batchnorm]
  optim.lr: [0.01, 0.1]
`)
	s, err := sweep.Parse("study.yaml", src, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range s.Runs {
		fmt.Println(r.Name, r.Overrides, r.Config.Name)
	}
	// Output:
	// norm=none,lr=0.01 [model.norm=none optim.lr=0.01] study:norm=none,lr=0.01
	// norm=none,lr=0.1 [model.norm=none optim.lr=0.1] study:norm=none,lr=0.1
	// norm=batchnorm,lr=0.01 [model.norm=batchnorm optim.lr=0.01] study:norm=batchnorm,lr=0.01
	// norm=batchnorm,lr=0.1 [model.norm=batchnorm optim.lr=0.1] study:norm=batchnorm,lr=0.1
}
