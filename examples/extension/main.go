// Command lwca-extension is lwca with the layer types and architecture of package wsnorm: a
// complete lwca (run, sweep, compare, …) whose configs can name ws_linear, rmsnorm and
// ws_mlp.
//
//	go run . run configs/mnist_ws_rms.yaml
package main

import (
	"github.com/lwca/lwca/cli"

	_ "example.com/lwca-extension/wsnorm" // registers ws_linear, rmsnorm and ws_mlp
)

func main() { cli.Main() }
