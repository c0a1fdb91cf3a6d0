package main

import (
	"os"
	"strings"
	"testing"
)

func TestZZTmpReproduce(t *testing.T) {
	a := os.Getenv("ZZ_ARGS")
	if a == "" {
		t.Skip()
	}
	if err := cmdReproduce(strings.Fields(a), os.Stdout, os.Stderr); err != nil {
		t.Fatal(err)
	}
}
