package cli

import (
	"fmt"
	"net"

	"github.com/lwca/lwca/compare"
	"github.com/lwca/lwca/serve"
)

type serveCmd struct {
	Dirs   []string `arg:"" name:"run-or-sweep-dir" help:"Run directories, sweep directories or directories of run directories."`
	Addr   string   `default:"127.0.0.1:8080" placeholder:"HOST:PORT" help:"Listen address (default 127.0.0.1:8080)."`
	Public bool     `help:"Allow an address other machines can reach."`
	Align  string   `placeholder:"step|epoch" help:"Align runs by step (default) or by epoch."`
	P      *float64 `placeholder:"P" help:"Which κ_p the tables and figures show, p in (0, 1] (default 0.5)."`
	Title  string   `placeholder:"T" help:"Title of the report (default: lwca comparison)."`
}

func (c *serveCmd) Help() string {
	return `serve serves the comparison report and keeps it current while the runs write, until SIGINT or
SIGTERM.`
}

func (c *serveCmd) Run(g *globals) error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return usageError{msg: fmt.Sprintf("--addr %q: expected host:port, e.g. 127.0.0.1:8080", c.Addr)}
	}
	// The report shows directory names and configs: other machines see it only when asked.
	if !serve.LoopbackAddr(c.Addr) && !c.Public {
		return usageError{msg: fmt.Sprintf("--addr %s is reachable from other machines; add --public to serve it there, or use 127.0.0.1:PORT", c.Addr)}
	}
	var opts serve.Options
	var err error
	if opts.Compare.Align, err = compare.ParseAlignment(c.Align); err != nil {
		return usageError{msg: err.Error()}
	}
	if c.P != nil {
		if opts.Compare.P = *c.P; !(opts.Compare.P > 0 && opts.Compare.P <= 1) {
			return usageError{msg: fmt.Sprintf("--p %v: expected a fraction in (0, 1]", opts.Compare.P)}
		}
	}
	opts.Compare.Title = c.Title
	opts.Log = g.info()
	s, err := serve.New(c.Dirs, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	fmt.Fprintf(g.stdout, "live report at http://%s/ (%d runs; Ctrl-C stops)\n", ln.Addr(), s.State().Runs)
	return s.Serve(ctx, ln)
}
