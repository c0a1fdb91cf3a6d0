// Package serve is a live view of a comparison: an HTTP server that renders package
// compare's report for run and sweep directories, renders it again whenever the runs write,
// and tells open pages, which swap the new report in without a reload.
//
//	s, err := serve.New([]string{"runs/mnist_bn_vs_plain_lr"}, serve.Options{})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer s.Close()
//	ln, _ := net.Listen("tcp", "127.0.0.1:8080")
//	err = s.Serve(ctx, ln) // until ctx is cancelled
//
// The server looks at the directories' files (sizes and modification times) once per
// Options.Interval; when they changed it renders the report into a new directory and bumps
// the version. Pages follow /events, a Server-Sent Events stream of State values, and fetch
// /report.html when the version moves on.
//
// Paths:
//
//	/             the report with a status line and the script that keeps it current
//	/report.html  the report as lwca compare writes it
//	/events       text/event-stream of State as JSON, one event per change
//	/<file>       any other file of the current report (figures/*.svg, tables/*.csv, …)
package serve

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lwca/lwca/compare"
)

// Options configure a Server. The zero value is ready to use.
type Options struct {
	// Compare configures the comparison, as for lwca compare.
	Compare compare.Options
	// Interval is the time between looks at the run directories; default 1 s.
	Interval time.Duration
	// Log receives discovery warnings and rendering errors, each once; nil discards them.
	Log io.Writer
}

// State is what /events reports to pages.
type State struct {
	// Version counts the reports rendered; 0 until the first one.
	Version int `json:"version"`
	// Error says why the latest rendering failed; the page keeps showing the last report.
	Error string `json:"error,omitempty"`
	// Runs is the number of runs in the current report.
	Runs int `json:"runs"`
	// Updated is when the run directories were last looked at and found changed.
	Updated time.Time `json:"updated"`
}

// Server renders and serves the live report. Its methods are safe for concurrent use.
type Server struct {
	dirs []string
	opts Options
	tmp  string // one subdirectory per rendered version

	refreshMu sync.Mutex // one Refresh at a time; guards the fields below
	looked    bool
	inputs    uint64 // fingerprint of the files behind the current state
	logged    string // the last message written to Log
	prev      string // the previous version's directory, removed after the next version

	mu      sync.Mutex // guards the fields below
	state   State
	dir     string        // the current version's report directory; "" before the first
	changed chan struct{} // closed and replaced when state changes
}

// New returns a server for the run or sweep directories dirs (as for compare.Discover) and
// renders the first report. Directories that are missing are an error; a comparison that
// cannot be made yet (a sweep whose runs have not started) is not: the page shows why and
// follows the directories until it can.
func New(dirs []string, opts Options) (*Server, error) {
	if len(dirs) == 0 {
		return nil, errors.New("serve: no directories")
	}
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("serve: %s is not a directory", d)
		}
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	tmp, err := os.MkdirTemp("", "lwca-serve")
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	s := &Server{dirs: dirs, opts: opts, tmp: tmp, changed: make(chan struct{})}
	s.Refresh()
	return s, nil
}

// Close removes the rendered reports.
func (s *Server) Close() error { return os.RemoveAll(s.tmp) }

// State returns the current state.
func (s *Server) State() State {
	st, _ := s.current()
	return st
}

// current returns the state with a channel that is closed when it changes.
func (s *Server) current() (State, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.changed
}

// reportDir returns the current version's report directory, "" before the first report.
func (s *Server) reportDir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dir
}

// Refresh renders the report again if the run directories changed since it last looked, and
// reports whether it made a new version. A failed rendering keeps the last report and is
// returned and recorded in the state.
func (s *Server) Refresh() (bool, error) {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	// Fingerprint before reading, so that a write during the rendering is seen next time.
	fp := fingerprint(s.dirs)
	if s.looked && fp == s.inputs {
		return false, nil
	}
	s.looked, s.inputs = true, fp
	dir, runs, warnings, err := s.render()
	msg := strings.Join(warnings, "\n")
	if err != nil {
		msg = err.Error()
	}
	if msg != "" && msg != s.logged {
		fmt.Fprintf(s.opts.Log, "lwca: %s\n", msg)
	}
	s.logged = msg

	s.mu.Lock()
	st := s.state
	st.Updated = time.Now()
	old := ""
	if err != nil {
		st.Error = err.Error()
	} else {
		st.Version++
		st.Error, st.Runs = "", runs
		old, s.prev, s.dir = s.prev, s.dir, dir
	}
	if st != s.state {
		s.state = st
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.mu.Unlock()
	// Keep the previous version for requests that started before the switch.
	if old != "" {
		os.RemoveAll(old)
	}
	return err == nil, err
}

// render writes a new report into a fresh directory under tmp.
func (s *Server) render() (dir string, runs int, warnings []string, err error) {
	rs, warnings, err := compare.Discover(s.dirs...)
	if err != nil {
		return "", 0, nil, err
	}
	rep, err := compare.Compare(rs, s.opts.Compare)
	if err != nil {
		return "", 0, warnings, err
	}
	warnings = append(warnings, rep.Notes...)
	if dir, err = os.MkdirTemp(s.tmp, "v"); err != nil {
		return "", 0, warnings, fmt.Errorf("serve: %w", err)
	}
	if err := rep.Write(dir); err != nil {
		os.RemoveAll(dir)
		return "", 0, warnings, err
	}
	return dir, len(rs), warnings, nil
}

// Directories a comparison does not read: skipping them keeps the look cheap and saves
// renderings when only a checkpoint or saved weights change.
var skipDirs = map[string]bool{"checkpoint": true, "weights": true, "analysis": true, "compare": true}

// maxDepth is how deep below an argument the files a comparison reads lie:
// sweep/run/spectra/file.
const maxDepth = 3

// fingerprint hashes the names, sizes and modification times of the files under dirs that a
// comparison may read. Hidden files (locks, temporaries being written) are left out.
func fingerprint(dirs []string) uint64 {
	h := fnv.New64a()
	for _, root := range dirs {
		filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				fmt.Fprintf(h, "%s\x00error\x00", p)
				return nil
			}
			if p == root {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			name := e.Name()
			if e.IsDir() {
				if skipDirs[name] || strings.HasPrefix(name, ".") || strings.Count(rel, string(filepath.Separator)) >= maxDepth-1 {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasPrefix(name, ".") {
				return nil
			}
			if fi, err := e.Info(); err == nil {
				fmt.Fprintf(h, "%s\x00%d\x00%d\x00", p, fi.Size(), fi.ModTime().UnixNano())
			}
			return nil
		})
	}
	return h.Sum64()
}

// Watch refreshes the report every Interval until ctx is cancelled.
func (s *Server) Watch(ctx context.Context) {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Refresh()
		}
	}
}

// LoopbackAddr reports whether the listen address addr ("host:port") binds only loopback
// interfaces: host localhost or a loopback IP. An empty host binds every interface.
func LoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
