package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// The first SIGINT cancels the run's context (a graceful stop); a second one ends the process
// at once instead of waiting for the stop to finish.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	if os.Getenv("LWCA_SIGNAL_CHILD") == "1" {
		ctx, stop := signalContext()
		defer stop()
		fmt.Println("ready")
		<-ctx.Done()
		fmt.Println("stopping")
		time.Sleep(20 * time.Second) // a long graceful stop
		os.Exit(3)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestSecondSignalStopsAtOnce$")
	cmd.Env = append(os.Environ(), "LWCA_SIGNAL_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	expect := func(want string) {
		t.Helper()
		if !lines.Scan() || lines.Text() != want {
			t.Fatalf("child said %q, want %q", lines.Text(), want)
		}
	}
	expect("ready")
	cmd.Process.Signal(os.Interrupt)
	expect("stopping")
	time.Sleep(200 * time.Millisecond) // let the handler restore the default behaviour
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child ended with %v", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("child was not ended by the second SIGINT: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("child took %v to stop after the second signal", d)
	}
}
