package experiments

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// smallDisk mounts a tmpfs of the given size for the test, or skips where that is not allowed.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// A full disk stops a run with an error naming the file and the cause; the last checkpoint
// stays good, and once there is room again the run resumes to the files of an uninterrupted
// run.
func TestFullDiskKeepsEarlierResults(t *testing.T) {
	cfg := smokeConfig(t, "train.epochs=6", "train.checkpoint_every=4", "analysis.every=2")
	ref := t.TempDir()
	runInto(t, cfg, ref)
	var total int64
	filepath.Walk(ref, func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && !fi.IsDir() {
			total += fi.Size()
		}
		return nil
	})

	disk := smallDisk(t, "1m")
	dir := filepath.Join(disk, "run")
	// Leave room for about half of the run (checkpoints take turns with their replacement).
	filler := filepath.Join(disk, "filler")
	var st syscall.Statfs_t
	syscall.Statfs(disk, &st)
	free := int64(st.Bavail) * st.Bsize
	if err := os.WriteFile(filler, make([]byte, free-total/2-64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), cfg, dir, Options{})
	if err == nil {
		t.Fatalf("run on a full disk succeeded: %+v", sum)
	}
	if !errors.Is(err, syscall.ENOSPC) && !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("error does not say the disk is full: %v", err)
	}
	if !strings.Contains(err.Error(), disk) {
		t.Errorf("error does not name the file: %v", err)
	}
	if _, err := readCheckpoint(dir); err != nil {
		t.Fatalf("no usable checkpoint after the failure: %v", err)
	}
	os.Remove(filler)
	if _, err := Resume(context.Background(), dir, Options{}); err != nil {
		t.Fatalf("resume after freeing space: %v", err)
	}
	compareRunDirs(t, ref, dir)
}
