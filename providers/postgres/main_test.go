package postgres_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/providers/postgres/pgtest"
)

// shared is the cluster the tests that do not stop the server share, each
// in a database of its own; nil when the binaries are missing (the tests
// then skip, or fail with CI=true). Child processes started by the tests
// get their DSN from the environment and start no cluster.
var shared *pgtest.Cluster

// sharedSkip says why there is no shared cluster.
var sharedSkip string

func TestMain(m *testing.M) {
	if redistest.ChildRole() != "" {
		os.Exit(m.Run())
	}
	c, reason, err := pgtest.StartMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		os.Exit(1)
	}
	shared, sharedSkip = c, reason
	code := m.Run()
	if c != nil {
		c.Remove()
	}
	os.Exit(code)
}
