package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// bankBinary is the sample built once for the end-to-end tests, which run
// it as separate processes; empty with -short.
var (
	bankBinary string
	buildErr   error
)

func TestMain(m *testing.M) {
	// go-redis's "failed to dial" lines, while a test keeps Redis down,
	// would only bury a failure's report. The bank binary the end-to-end
	// tests run keeps its logger.
	goredis.SetLogger(discardLogger{})
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
	stopSharedPostgres()
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

// discardLogger is a go-redis logger that drops every line.
type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}
