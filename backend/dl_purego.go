//go:build (linux || darwin || freebsd) && (amd64 || arm64)

package backend

import (
	"runtime"
	"syscall"
	"unsafe"

	"github.com/ebitengine/purego"
)

// dlopen opens a shared library. The OS thread is locked because dlerror's
// text is per thread and would be lost if the goroutine moved between the
// dlopen and dlerror calls inside purego.
func dlopen(name string) (uintptr, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
}

// dlsym returns the address of symbol name, or 0 when it is missing.
// purego.RegisterLibFunc would panic instead.
func dlsym(handle uintptr, name string) uintptr {
	p, err := purego.Dlsym(handle, name)
	if err != nil {
		return 0
	}
	return p
}

// execProgram replaces the process (Reexec); tests replace it.
var execProgram = syscall.Exec

// ccall calls the C function fn with integer or pointer arguments only:
// purego cannot pass floating-point and integer arguments in one call.
// Pointers passed as uintptr must be converted in the call expression, which
// keeps their targets alive and in place during the call.
//
//go:uintptrescapes
func ccall(fn uintptr, args ...uintptr) uintptr {
	r, _, _ := purego.SyscallN(fn, args...)
	return r
}

// cstring calls fn, a C function without arguments that returns a
// NUL-terminated string, and copies the result.
func cstring(fn uintptr) string {
	var f func() string
	purego.RegisterFunc(&f, fn)
	return f()
}

// setenvC sets a variable in the C library's environment, which OpenBLAS
// reads when it is loaded. os.Setenv does not reach it in binaries built
// without cgo.
func setenvC(key, value string) bool {
	fn, err := purego.Dlsym(purego.RTLD_DEFAULT, "setenv")
	if err != nil || fn == 0 {
		return false
	}
	k := append([]byte(key), 0)
	v := append([]byte(value), 0)
	r := ccall(fn, uintptr(unsafe.Pointer(&k[0])), uintptr(unsafe.Pointer(&v[0])), 1)
	runtime.KeepAlive(k)
	runtime.KeepAlive(v)
	return r == 0
}
