package experiments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// A full disk stops a run with an error naming the file and the cause, wherever in the run
// the disk fills up (a step's records, a weights save, a checkpoint write): the temporaries of
// the failed write are gone, summary.json says failed with the error, the last checkpoint stays
// good, and once there is room again the run resumes to the files of an uninterrupted run.
func TestFullDiskKeepsEarlierResults(t *testing.T) {
	cfg := smokeConfig(t, "train.epochs=6", "train.checkpoint_every=4", "analysis.every=2", "analysis.save_weights_every=5")
	ref := t.TempDir()
	runInto(t, cfg, ref)
	var total int64 // in the small disk's pages
	filepath.Walk(ref, func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil {
			total += (fi.Size() + 4095) / 4096 * 4096
		}
		return nil
	})

	disk := smallDisk(t, "4m")
	var inCheckpoint, resumed int
	for i, room := range []int64{total / 16, total / 4, total / 3, total / 2, 2 * total / 3, 3 * total / 4} {
		dir := filepath.Join(disk, fmt.Sprintf("run%d", i))
		filler := filepath.Join(disk, "filler")
		var st syscall.Statfs_t
		syscall.Statfs(disk, &st)
		free := int64(st.Bavail) * st.Bsize
		if err := os.WriteFile(filler, make([]byte, max(free-room, 0)), 0o644); err != nil {
			t.Fatal(err)
		}
		sum, err := Run(context.Background(), cfg, dir, Options{})
		if err == nil {
			t.Logf("room %d: the run fitted", room)
			os.Remove(filler)
			os.RemoveAll(dir)
			continue
		}
		if !errors.Is(err, syscall.ENOSPC) && !strings.Contains(err.Error(), "no space left") {
			t.Fatalf("room %d: error does not say the disk is full: %v", room, err)
		}
		if !strings.Contains(err.Error(), disk) {
			t.Errorf("room %d: error does not name the file: %v", room, err)
		}
		if strings.Contains(err.Error(), CheckpointDir+".tmp") {
			inCheckpoint++
		}
		var got Summary
		if b, rerr := os.ReadFile(filepath.Join(dir, SummaryFile)); rerr != nil || json.Unmarshal(b, &got) != nil {
			t.Fatalf("room %d: summary.json unreadable after the failure: %v", room, rerr)
		}
		if got.Status != StatusFailed || got.Error != sum.Error || got.Error == "" {
			t.Errorf("room %d: summary.json has status %q error %q, want failed with %q", room, got.Status, got.Error, sum.Error)
		}
		filepath.Walk(dir, func(path string, fi os.FileInfo, _ error) error {
			if fi != nil && (tempName.MatchString(fi.Name()) || fi.Name() == CheckpointDir+".tmp") {
				t.Errorf("room %d: %s left behind", room, path)
			}
			return nil
		})
		os.Remove(filler)
		// Resume starts again from step 0 if the disk filled before the first checkpoint.
		if _, err := Resume(context.Background(), dir, Options{}); err != nil {
			t.Fatalf("room %d: resume after freeing space: %v", room, err)
		}
		compareRunDirs(t, ref, dir)
		resumed++
		os.RemoveAll(dir)
	}
	t.Logf("%d failures in a checkpoint write, %d resumed", inCheckpoint, resumed)
	if inCheckpoint == 0 || resumed == 0 {
		t.Errorf("%d failures in a checkpoint write and %d resumed runs; the room sizes should give some of each", inCheckpoint, resumed)
	}
}

// With the disk filled to the last byte during a run, the failed status still reaches
// summary.json (written over the running status in place, as there is no room for a copy).
func TestFullDiskRecordsFailedStatus(t *testing.T) {
	cfg := smokeConfig(t, "train.checkpoint_every=4", "analysis.every=2")
	disk := smallDisk(t, "4m")
	dir := filepath.Join(disk, "run")
	filler := filepath.Join(disk, "filler")
	fill := func(step int) {
		if step != 5 {
			return
		}
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for buf := make([]byte, 4096); ; {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
		for buf := make([]byte, 1); ; { // the last partial page
			if _, err := f.Write(buf); err != nil {
				return
			}
		}
	}
	sum, err := Run(context.Background(), cfg, dir, Options{AfterStep: fill})
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("run on a disk filled at step 5: %v", err)
	}
	var got Summary
	if b, rerr := os.ReadFile(filepath.Join(dir, SummaryFile)); rerr != nil || json.Unmarshal(b, &got) != nil {
		t.Fatalf("summary.json unreadable after the failure: %v", rerr)
	}
	if got.Status != StatusFailed || got.Error != sum.Error {
		t.Errorf("summary.json has status %q error %q, want failed with %q", got.Status, got.Error, sum.Error)
	}
	os.Remove(filler)
	if _, err := Resume(context.Background(), dir, Options{}); err != nil {
		t.Fatalf("resume after freeing space: %v", err)
	}
}
