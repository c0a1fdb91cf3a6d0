package cli

import (
	"bufio"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// limitMemory sets the Go runtime's soft memory limit to 80 % of the memory the process may
// use (the machine's, or its cgroup's when smaller) unless GOMEMLIMIT is set. Without a
// limit the collector lets the heap grow to twice what is live before it collects: a deep
// ResNet whose activations hold 9 GB then asks for 18 GB and is killed on a 24 GB machine,
// where near the limit the collector would have run more often instead.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if n := usableMemory(); n > 0 {
		debug.SetMemoryLimit(n / 5 * 4)
	}
}

// usableMemory is the smaller of /proc/meminfo's MemTotal and the cgroup's memory.max, in
// bytes; 0 where neither can be read.
func usableMemory() int64 {
	n := int64(0)
	if f, err := os.Open("/proc/meminfo"); err == nil {
		n = memTotal(f)
		f.Close()
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if c := cgroupMax(string(b)); c > 0 && (n == 0 || c < n) {
			n = c
		}
	}
	return n
}

// memTotal reads MemTotal (in kB) from /proc/meminfo's text, in bytes; 0 when absent.
func memTotal(r io.Reader) int64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb > 0 {
				return kb << 10
			}
		}
	}
	return 0
}

// cgroupMax parses a cgroup v2 memory.max: bytes, or "max" (no limit, 0).
func cgroupMax(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}
