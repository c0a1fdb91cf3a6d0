package cli

import "io"

// The command as a function of its arguments, as the tests call it: the command line's
// parse errors and the command's own usage errors are usageErrors.
func cmdRun(args []string, stdout, stderr io.Writer) error { return cmd("run", args, stdout, stderr) }
func cmdSweep(args []string, stdout, stderr io.Writer) error {
	return cmd("sweep", args, stdout, stderr)
}
func cmdCompare(args []string, stdout, stderr io.Writer) error {
	return cmd("compare", args, stdout, stderr)
}
func cmdData(args []string, stdout, stderr io.Writer) error { return cmd("data", args, stdout, stderr) }
func cmdBench(args []string, stdout, stderr io.Writer) error {
	return cmd("bench", args, stdout, stderr)
}
func cmdReproduce(args []string, stdout, stderr io.Writer) error {
	return cmd("reproduce", args, stdout, stderr)
}

func cmd(name string, args []string, stdout, stderr io.Writer) error {
	return execute(append([]string{name}, args...), stdout, stderr)
}
