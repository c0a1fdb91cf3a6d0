package experiments

import (
	"runtime"
	"syscall"
)

// backgroundPriority puts the calling goroutine on an OS thread of its own at the lowest
// scheduling priority (nice 19), for the rest of the goroutine: the analysis worker then runs
// on what training leaves idle instead of taking turns with it. A worker that falls behind
// still finishes, because training waits for it at the end of its span (analyzer.widen).
func backgroundPriority() {
	runtime.LockOSThread()                                              // the thread goes away with the worker
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19) // best effort: the default is only slower
}
