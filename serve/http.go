package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Serve serves the live report on l and follows the run directories until ctx is cancelled,
// then stops accepting connections, ends open event streams and returns nil once the
// requests in progress have finished.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests inherit ctx, so event streams end when it is cancelled and Shutdown need
		// not wait for them.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.Watch(ctx) })
	defer wg.Wait() // no rendering outlives Serve, so Close may follow it
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ServeHTTP serves the live page, the event stream and the current report's files.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store") // every version replaces the files
	switch r.URL.Path {
	case "/":
		s.page(w, r)
	case "/events":
		s.events(w, r)
	default:
		s.file(w, r)
	}
}

// file serves a file of the current report. Only regular files inside the report directory
// are served: names with .. or other invalid elements are refused, and os.Root keeps
// symbolic links from leading out of it.
func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	dir := s.reportDir()
	if dir == "" || !fs.ValidPath(name) || name != path.Clean(name) {
		http.NotFound(w, r)
		return
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Lwca-Version", strconv.Itoa(s.versionOf(dir)))
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

// versionOf returns the version whose report is in dir: the current one, or the one before
// if a new version came in meanwhile.
func (s *Server) versionOf(dir string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dir == s.dir {
		return s.state.Version
	}
	return s.state.Version - 1
}

// page serves the current report with the live status line and script added before </body>,
// or a placeholder that says why there is no report yet.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st, dir := s.state, s.dir // the version the page will say it shows
	s.mu.Unlock()
	var report []byte
	if dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, "report.html"))
		if err != nil {
			http.Error(w, "report not available; reload", http.StatusServiceUnavailable)
			return
		}
		report = b
	}
	var live bytes.Buffer
	if err := liveTemplate.Execute(&live, st); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if report == nil {
		report = []byte("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lwca live</title></head>\n" +
			"<body><h1>lwca live</h1><p>No report yet: waiting for the runs to write.</p></body></html>\n")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(inject(report, live.Bytes()))
}

// inject puts snippet before the last </body> of page, or at its end if it has none.
func inject(page, snippet []byte) []byte {
	i := bytes.LastIndex(bytes.ToLower(page), []byte("</body>"))
	if i < 0 {
		i = len(page)
	}
	out := make([]byte, 0, len(page)+len(snippet))
	out = append(out, page[:i]...)
	out = append(out, snippet...)
	return append(out, page[i:]...)
}

// events streams the state as Server-Sent Events: the current state at once, then every
// change, until the client leaves or the server stops.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for {
		st, changed := s.current()
		b, err := json.Marshal(st)
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

// liveTemplate is the status line and the script added to the report. On a new version the
// script fetches report.html and replaces the body's content (all but itself and the status
// line), keeping the scroll position and which <details> are open.
var liveTemplate = template.Must(template.New("live").Parse(`
<div id="lwca-live" data-version="{{.Version}}" style="position:fixed;top:0;right:0;z-index:10;padding:0.3em 0.7em;font:0.85em system-ui,sans-serif;background:#eef6ee;border:1px solid #9c9;border-radius:0 0 0 6px">live · version {{.Version}}</div>
<script id="lwca-live-script">
(function () {
  const bar = document.getElementById("lwca-live");
  const self = document.getElementById("lwca-live-script");
  let shown = Number(bar.dataset.version), latest = shown, busy = false;
  function status(text, bad) {
    bar.textContent = text;
    bar.style.background = bad ? "#fbeaea" : "#eef6ee";
    bar.style.borderColor = bad ? "#d99" : "#9c9";
  }
  async function update() {
    if (busy || latest <= shown) return;
    busy = true;
    try {
      const res = await fetch("report.html", {cache: "no-store"});
      if (!res.ok) throw new Error(res.status + " " + res.statusText);
      const v = Number(res.headers.get("X-Lwca-Version")) || latest;
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const y = window.scrollY;
      const open = [...document.querySelectorAll("details")].map(d => d.open);
      for (const n of [...document.body.childNodes]) if (n !== bar && n !== self) n.remove();
      for (const n of [...doc.body.childNodes]) document.body.insertBefore(document.adoptNode(n), bar);
      document.title = doc.title;
      document.querySelectorAll("details").forEach((d, i) => { if (open[i]) d.open = true; });
      await Promise.all([...document.images].map(i => i.decode().catch(() => {})));
      window.scrollTo(0, y);
      shown = v;
      bar.dataset.version = v;
      status("live · version " + v + " · " + new Date().toTimeString().slice(0, 8));
    } catch (e) {
      status("update failed: " + e.message + "; retrying", true);
      setTimeout(() => { busy = false; update(); }, 2000);
      return;
    }
    busy = false;
    update(); // a version that came in meanwhile
  }
  const events = new EventSource("events");
  events.onmessage = e => {
    const st = JSON.parse(e.data);
    latest = Math.max(latest, st.version);
    if (st.error) status("version " + shown + "; latest rendering failed: " + st.error, true);
    else if (latest <= shown) status("live · version " + shown);
    update();
  };
  events.onerror = () => status("version " + shown + "; server not reachable, retrying", true);
})();
</script>
`))
