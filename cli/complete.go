package cli

import (
	"maps"

	"github.com/alecthomas/kong"
	"github.com/posener/complete"
	"github.com/willabides/kongplete"
)

// completeLine answers the shell when it asks for completions (COMP_LINE is set) and does
// nothing otherwise. It is kongplete's Complete, but that a command with a default subcommand
// (lwca sweep CONFIG, short for lwca sweep run CONFIG) also completes that subcommand's flags
// and arguments.
func completeLine(k *kong.Kong) {
	cmd, err := kongplete.Command(k)
	if err != nil {
		k.Errorf("error running command completion: %v", err)
		k.Exit(1)
	}
	withDefaults(k.Model.Node, &cmd)
	c := complete.New(k.Model.Name, cmd)
	c.Out = k.Stdout
	if c.Complete() {
		k.Exit(0)
	}
}

// withDefaults gives every command of node's tree that has a default subcommand that
// subcommand's flags and arguments.
func withDefaults(node *kong.Node, cmd *complete.Command) {
	for _, child := range node.Children {
		sub, ok := cmd.Sub[child.Name]
		if !ok {
			continue
		}
		withDefaults(child, &sub)
		cmd.Sub[child.Name] = sub
	}
	if node.DefaultCmd == nil {
		return
	}
	def, ok := cmd.Sub[node.DefaultCmd.Name]
	if !ok {
		return
	}
	// Flags, not GlobalFlags: the other subcommands do not take them.
	if cmd.Flags == nil {
		cmd.Flags = complete.Flags{}
	}
	maps.Copy(cmd.Flags, def.GlobalFlags)
	maps.Copy(cmd.Flags, def.Flags)
	cmd.Args = def.Args
}
