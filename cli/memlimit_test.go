package cli

import (
	"runtime"
	"strings"
	"testing"
)

func TestMemoryLimitSources(t *testing.T) {
	meminfo := "MemFree:         1000 kB\nMemTotal:       24576000 kB\nBuffers: 3 kB\n"
	if got := memTotal(strings.NewReader(meminfo)); got != 24576000<<10 {
		t.Errorf("memTotal = %d, want %d", got, 24576000<<10)
	}
	if got := memTotal(strings.NewReader("MemFree: 1 kB\n")); got != 0 {
		t.Errorf("memTotal without MemTotal = %d, want 0", got)
	}
	for in, want := range map[string]int64{"max\n": 0, "8589934592\n": 8589934592, "": 0, "-1": 0} {
		if got := cgroupMax(in); got != want {
			t.Errorf("cgroupMax(%q) = %d, want %d", in, got, want)
		}
	}
	if runtime.GOOS == "linux" && usableMemory() <= 0 {
		t.Error("usableMemory found no memory size on Linux")
	}
}
