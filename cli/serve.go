package cli

import (
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/serve"
)

// cmdServe implements
//
//	lwca serve RUN_OR_SWEEP_DIR... [--addr 127.0.0.1:8080] [--public] [--align step|epoch] [--p 0.5] [--title T]
//
// It serves the comparison report and keeps it current while the runs write, until SIGINT or
// SIGTERM.
func cmdServe(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, []string{"addr", "align", "p", "title"}, []string{"public"})
	if err != nil {
		return err
	}
	if len(f.positional) == 0 {
		return usageError{"serve takes one or more run or sweep directories"}
	}
	addr := f.last("addr")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return usageError{fmt.Sprintf("--addr %q: expected host:port, e.g. 127.0.0.1:8080", addr)}
	}
	// The report shows directory names and configs: other machines see it only when asked.
	if !serve.LoopbackAddr(addr) && f.last("public") == "" {
		return usageError{fmt.Sprintf("--addr %s is reachable from other machines; add --public to serve it there, or use 127.0.0.1:PORT", addr)}
	}
	var opts serve.Options
	if opts.Compare.Align, err = compare.ParseAlignment(f.last("align")); err != nil {
		return usageError{err.Error()}
	}
	if s := f.last("p"); s != "" {
		if opts.Compare.P, err = strconv.ParseFloat(s, 64); err != nil || !(opts.Compare.P > 0 && opts.Compare.P <= 1) {
			return usageError{fmt.Sprintf("--p %q: expected a fraction in (0, 1]", s)}
		}
	}
	opts.Compare.Title = f.last("title")
	opts.Log = stderr
	s, err := serve.New(f.positional, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	fmt.Fprintf(stdout, "live report at http://%s/ (%d runs; Ctrl-C stops)\n", ln.Addr(), s.State().Runs)
	return s.Serve(ctx, ln)
}
