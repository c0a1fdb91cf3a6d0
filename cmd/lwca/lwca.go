// Command lwca trains networks and analyses their layer-wise conditioning; see package cli and
// README.md.
package main

import "github.com/lwca/lwca/cli"

func main() { cli.Main() }
