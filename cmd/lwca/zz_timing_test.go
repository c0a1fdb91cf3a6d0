package main

import (
	"os"
	"testing"
)

func TestZZTiming(t *testing.T) {
	cfg := os.Getenv("LWCA_TIMING")
	if cfg == "" {
		t.Skip()
	}
	if err := cmdSweep([]string{cfg, "--out", os.Getenv("LWCA_TIMING_OUT"), "--workers", "2"}, os.Stdout, os.Stderr); err != nil {
		t.Log(err)
	}
}
