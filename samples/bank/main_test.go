package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// bankBinary is the sample built once for the end-to-end tests, which run
// it as separate processes; empty with -short.
var (
	bankBinary string
	buildErr   error
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "bank-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if !testing.Short() {
		bankBinary = filepath.Join(dir, "bank")
		// `go test` puts its own go first in PATH.
		if out, err := exec.Command("go", "build", "-o", bankBinary, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	// Every test stops what it started: servers, clients, lock providers.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
