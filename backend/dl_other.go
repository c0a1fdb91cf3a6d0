//go:build !((linux || darwin || freebsd) && (amd64 || arm64))

package backend

import (
	"errors"
	"fmt"
	"runtime"
)

func dlopen(name string) (uintptr, error) {
	return 0, fmt.Errorf("%s: loading shared libraries is not supported on %s/%s", name, runtime.GOOS, runtime.GOARCH)
}

func dlsym(handle uintptr, name string) uintptr { return 0 }

var execProgram = func(string, []string, []string) error {
	return errors.New("cannot execute a program on this platform")
}

func ccall(fn uintptr, args ...uintptr) uintptr { panic("backend: no foreign calls on this platform") }

func cstring(fn uintptr) string { panic("backend: no foreign calls on this platform") }

func setenvC(key, value string) bool { return false }
