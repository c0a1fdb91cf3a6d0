package serve

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lwca/lwca/experiments"
	"github.com/lwca/lwca/experiments/config"
	"github.com/lwca/lwca/results"
)

// browser starts headless Chromium for the test, or skips the test where there is none
// (fails instead when LWCA_REQUIRE_CHROMIUM=1, as in CI).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("LWCA_REQUIRE_CHROMIUM") == "1" {
			t.Fatalf("chromium not found and LWCA_REQUIRE_CHROMIUM=1: %v", err)
		}
		t.Skip("chromium not found (Debian: apt-get install chromium); the live page is not tested in a browser")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// Without these Chromium connects to Google's services, which a closed network refuses.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	// Generous: a shared 2-core machine may be slow to start a browser.
	tctx, cancelT := context.WithTimeout(actx, 3*time.Minute)
	t.Cleanup(cancelT)
	ctx, cancelB := chromedp.NewContext(tctx)
	t.Cleanup(cancelB)
	// The first action starts the browser, which lives as long as tctx.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void]("1")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// A page open on the live view shows records that a run appends, without being reloaded.
func TestBrowserFollowsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	ctx := browser(t)

	// A real run, short: steps 0..7, analysed at steps 0 and 4.
	cfg, err := config.Parse("live.yaml", []byte(`
name: live
seed: 3
data:
  dataset: synthetic
  batch_size: 16
  eval_batch_size: 50
  synthetic: {classes: 3, dim: 8, train: 64, test: 50, separation: 3.0, noise: 1.0}
model: {arch: mlp, depth: 3, width: 12, norm: batchnorm}
optim: {lr: 0.05, momentum: 0.9}
train: {epochs: 2}
analysis: {every: 4}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(t.TempDir(), "live")
	if _, err := experiments.Run(context.Background(), cfg, run, experiments.Options{}); err != nil {
		t.Fatal(err)
	}

	var log strings.Builder
	s, err := New([]string{run}, Options{Interval: 200 * time.Millisecond, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(sctx, ln) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	const (
		version = `Number(document.getElementById("lwca-live").dataset.version)`
		// A digest of every figure's markup: changes when a figure's image does.
		figures = `(() => { let h = 0; for (const c of [...document.querySelectorAll("figure")].map(f => f.innerHTML).join("|")) h = (h * 31 + c.charCodeAt(0)) | 0; return h; })()`
	)
	// eval evaluates a JavaScript expression on the page.
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string]("String("+expr+")"))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate("http://"+ln.Addr().String()+"/"),
		chromedp.WaitVisible(chromedp.ID("lwca-live")),
	)
	if err != nil {
		t.Fatal(err)
	}
	// A table column per analysed step: step 4 now, step 12 once the run goes on.
	const hasStep = `(s => Array.from(document.querySelectorAll("th")).some(e => e.textContent.trim() === s))`
	v1, figs1, text1 := eval(version), eval(figures), eval(`document.body.innerText`)
	eval(`window.lwcaTestMarker = "kept"`) // a reload would clear it
	if v1 == "0" || eval(hasStep+`("4")`) != "true" || eval(hasStep+`("12")`) != "false" {
		t.Fatalf("first page: version %s, text:\n%.2000s", v1, text1)
	}

	// The run goes on: training records for steps 8..12 and an analysis at step 12 (the
	// step-4 records with step 12 and three times the λmax), one complete line per write.
	var last []map[string]any
	err = results.ReadLog(filepath.Join(run, experiments.ConditioningFile), func(b []byte) error {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		if m["step"].(float64) == 4 {
			last = append(last, m)
		}
		return nil
	})
	if err != nil || len(last) == 0 {
		t.Fatalf("step-4 records: %d, %v", len(last), err)
	}
	var train, cond []string
	for s := 8; s <= 12; s++ {
		b, _ := json.Marshal(map[string]any{"type": "train", "step": s, "epoch": 1, "lr": 0.05, "loss": 0.3, "accuracy": 0.9})
		train = append(train, string(b))
	}
	for _, m := range last {
		m["step"], m["epoch"] = 12, 1
		if l, ok := m["lambda_max"].(float64); ok {
			m["lambda_max"] = 3 * l
		}
		b, _ := json.Marshal(m)
		cond = append(cond, string(b))
	}
	appendLines(t, filepath.Join(run, experiments.MetricsFile), train...)
	appendLines(t, filepath.Join(run, experiments.ConditioningFile), cond...)

	// Wait (generously, by polling) for the page to show step 12 of its own accord.
	_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](version+` > `+v1+` && `+hasStep+`("12")`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(2*time.Minute)))
	if err != nil {
		t.Fatalf("the page did not show step 12: %v\nserver state %+v, log:\n%s", err, s.State(), log.String())
	}
	v2, figs2, text2, marker := eval(version), eval(figures), eval(`document.body.innerText`), eval(`window.lwcaTestMarker`)
	if marker != "kept" {
		t.Errorf("the page was reloaded (marker %q)", marker)
	}
	if figs2 == figs1 {
		t.Errorf("the figures did not change between versions %s and %s", v1, v2)
	}
	if n := strings.Count(text2, "lwca comparison"); n != 1 {
		t.Errorf("the report appears %d times after the update", n)
	}
	if st := s.State(); st.Error != "" {
		t.Errorf("rendering failed: %s", st.Error)
	}
}
