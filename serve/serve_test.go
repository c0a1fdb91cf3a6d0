package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeRun creates a small run directory by hand: one layer, training records for steps
// 0..steps-1 and conditioning records at the analysis steps.
func writeRun(t *testing.T, dir string, steps int, analysed ...int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"config.yaml":  "name: hand\nseed: 1\noptim: {lr: 0.1}\n",
		"summary.json": `{"name":"hand","status":"running","layers":["fc1"]}` + "\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	appendLines(t, filepath.Join(dir, "metrics.jsonl"), trainLines(0, steps)...)
	for _, s := range analysed {
		appendLines(t, filepath.Join(dir, "conditioning.jsonl"), condLines(s)...)
	}
}

func trainLines(from, to int) []string {
	var out []string
	for s := from; s < to; s++ {
		out = append(out, fmt.Sprintf(`{"type":"train","step":%d,"epoch":0,"lr":0.1,"loss":%g,"accuracy":0.5}`, s, 2/(1+float64(s))))
	}
	return out
}

func condLines(step int) []string {
	var out []string
	for i, f := range []string{"x", "grad", "fisher"} {
		out = append(out, fmt.Sprintf(`{"step":%d,"epoch":0,"layer":"fc1","factor":%q,"dim":4,"lambda_max":%d,"kappa_p0.5":%d}`,
			step, f, (i+1)*(step+1), 10+step))
	}
	return out
}

// appendLines appends each line with one write, as runs do.
func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func newServer(t *testing.T, dirs ...string) *Server {
	t.Helper()
	s, err := New(dirs, Options{Interval: time.Hour}) // tests call Refresh themselves
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestRefreshFollowsAppends(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	writeRun(t, run, 8, 0, 4)
	s := newServer(t, run)
	if st := s.State(); st.Version != 1 || st.Error != "" || st.Runs != 1 {
		t.Fatalf("first state %+v, want version 1, one run, no error", st)
	}
	res, page := get(t, s, "/")
	if res.StatusCode != 200 || !strings.Contains(page, `id="lwca-live"`) || !strings.Contains(page, "<th>4</th>") {
		t.Fatalf("GET / = %d without the live script or the report:\n%.500s", res.StatusCode, page)
	}
	if i, j := strings.Index(page, `id="lwca-live"`), strings.LastIndex(page, "</body>"); i > j {
		t.Errorf("live script after </body>")
	}
	if changed, err := s.Refresh(); changed || err != nil {
		t.Errorf("Refresh without writes = %v, %v; want false, nil", changed, err)
	}

	// A record being written (no newline yet) is not read, but the next complete one is.
	cond := filepath.Join(run, "conditioning.jsonl")
	whole, err := os.Stat(cond)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(cond, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"step":12,"epoch":0,"layer":"fc1","fac`)
	f.Close()
	if _, err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	if _, report := get(t, s, "/report.html"); strings.Contains(report, "<th>12</th>") {
		t.Errorf("a partial line was read")
	}
	os.Truncate(cond, whole.Size())
	appendLines(t, filepath.Join(run, "metrics.jsonl"), trainLines(8, 13)...)
	appendLines(t, cond, condLines(12)...)
	changed, err := s.Refresh()
	if !changed || err != nil {
		t.Fatalf("Refresh after appends = %v, %v; want true, nil", changed, err)
	}
	st := s.State()
	res, report := get(t, s, "/report.html")
	if !strings.Contains(report, "<th>12</th>") {
		t.Errorf("step 12 missing from the new report")
	}
	if v := res.Header.Get("X-Lwca-Version"); v != fmt.Sprint(st.Version) || st.Version < 3 {
		t.Errorf("report version %s, state %+v", v, st)
	}
	if strings.Contains(report, "lwca-live") {
		t.Errorf("/report.html carries the live script")
	}
}

func TestWaitsForRuns(t *testing.T) {
	sweep := t.TempDir()
	s := newServer(t, sweep)
	if st := s.State(); st.Version != 0 || st.Error == "" {
		t.Fatalf("state of an empty directory %+v, want version 0 and an error", st)
	}
	if res, page := get(t, s, "/"); res.StatusCode != 200 || !strings.Contains(page, "No report yet") || !strings.Contains(page, "lwca-live") {
		t.Fatalf("GET / before any run = %d:\n%s", res.StatusCode, page)
	}
	if res, _ := get(t, s, "/report.html"); res.StatusCode != 404 {
		t.Errorf("report.html before any run: %d", res.StatusCode)
	}
	writeRun(t, filepath.Join(sweep, "a"), 4, 0)
	if changed, err := s.Refresh(); !changed || err != nil {
		t.Fatalf("Refresh after the first run = %v, %v", changed, err)
	}
	if st := s.State(); st.Version != 1 || st.Error != "" {
		t.Errorf("state %+v", st)
	}
}

func TestNewRefusesMissingDirectory(t *testing.T) {
	if _, err := New([]string{filepath.Join(t.TempDir(), "nope")}, Options{}); err == nil {
		t.Error("New accepted a missing directory")
	}
}

func TestNoPathTraversal(t *testing.T) {
	base := t.TempDir()
	run := filepath.Join(base, "run")
	writeRun(t, run, 4, 0)
	const secret = "not for the web"
	os.WriteFile(filepath.Join(base, "secret"), []byte(secret), 0o644)
	s := newServer(t, run)
	os.WriteFile(filepath.Join(s.tmp, "secret"), []byte(secret), 0o644) // beside the report
	if err := os.Symlink(filepath.Join(base, "secret"), filepath.Join(s.reportDir(), "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(s.reportDir(), "figures", "up")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/../secret", "/%2e%2e/secret", "/..%2fsecret", "/figures/../../secret",
		"/./../secret", "//secret", "/link", "/figures/up/secret", "/figures", "/figures/", "/tables/..",
		"/" + filepath.Join(base, "secret"), "/run/metrics.jsonl"} {
		res, body := get(t, s, p)
		if res.StatusCode != 404 || strings.Contains(body, secret) {
			t.Errorf("GET %s = %d %.80q, want 404", p, res.StatusCode, body)
		}
	}
	for _, p := range []string{"/report.html", "/tables.md", "/tables/runs.csv", "/figures/training.svg"} {
		if res, _ := get(t, s, p); res.StatusCode != 200 {
			t.Errorf("GET %s = %d, want 200", p, res.StatusCode)
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("POST", "/report.html", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d", rec.Code)
	}
}

// The event stream sends the state at once and again on every new version; cancelling the
// context ends the stream and Serve.
func TestEventsAndShutdown(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	writeRun(t, run, 8, 0, 4)
	s := newServer(t, run)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	res, err := http.Get("http://" + ln.Addr().String() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	events := bufio.NewReader(res.Body)
	next := func() State {
		t.Helper()
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				t.Fatalf("event stream: %v", err)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var st State
				if err := json.Unmarshal([]byte(data), &st); err != nil {
					t.Fatalf("event %q: %v", line, err)
				}
				return st
			}
		}
	}
	if st := next(); st.Version != 1 {
		t.Fatalf("first event %+v, want version 1", st)
	}
	appendLines(t, filepath.Join(run, "conditioning.jsonl"), condLines(8)...)
	if _, err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	if st := next(); st.Version != 2 {
		t.Fatalf("event after a write %+v, want version 2", st)
	}

	cancel()
	// A safety net for a hang, not a timing assertion.
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve did not return after its context was cancelled")
	}
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(events)
		rest <- string(b)
	}()
	select {
	case r := <-rest:
		if strings.TrimSpace(r) != "" {
			t.Errorf("events after the last change: %q", r)
		}
	case <-time.After(time.Minute):
		t.Fatal("the event stream stayed open after shutdown")
	}
}

func TestFingerprintIgnoresWhatCompareDoesNotRead(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	writeRun(t, run, 4, 0)
	fp := fingerprint([]string{run})
	for _, p := range []string{"checkpoint/model.bin", "weights/step_4/w.npy", ".lwca.lock", ".metrics.jsonl.tmp1"} {
		p = filepath.Join(run, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if fingerprint([]string{run}) != fp {
		t.Error("files compare does not read changed the fingerprint")
	}
	os.MkdirAll(filepath.Join(run, "spectra"), 0o755)
	os.WriteFile(filepath.Join(run, "spectra", "index.json"), []byte("{}"), 0o644)
	fp2 := fingerprint([]string{run})
	if fp2 == fp {
		t.Error("a new spectra file left the fingerprint unchanged")
	}
	appendLines(t, filepath.Join(run, "metrics.jsonl"), trainLines(4, 5)...)
	if fingerprint([]string{run}) == fp2 {
		t.Error("an appended record left the fingerprint unchanged")
	}
}

func TestLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:0": true, "[::1]:8080": true, "127.0.0.2:1": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "192.168.1.5:80": false,
		"example.com:80": false, "127.0.0.1": false,
	} {
		if got := LoopbackAddr(addr); got != want {
			t.Errorf("LoopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}
