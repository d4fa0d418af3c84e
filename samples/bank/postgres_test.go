package main

import (
	"sync"
	"testing"

	"github.com/turbomediator/turbomediator-go/providers/postgres/pgtest"
)

// sharedPostgres is one throwaway PostgreSQL cluster for the whole test
// binary, started by the first test that needs it (initdb takes seconds) and
// removed by TestMain through stopSharedPostgres. Each test takes a fresh
// database of its own in it.
type sharedPostgres struct {
	once    sync.Once
	cluster *pgtest.Cluster
	skip    string // why there is no cluster (no binaries, CI unset)
	err     error
}

// pg is the test binary's cluster; its fields are set once, under once.
var pg sharedPostgres

// postgresDSN returns the DSN of a new, empty database on the shared
// cluster; the test is skipped without PostgreSQL binaries (failed with
// CI=true).
func postgresDSN(t *testing.T) string {
	t.Helper()
	pg.once.Do(func() { pg.cluster, pg.skip, pg.err = pgtest.StartMain() })
	switch {
	case pg.err != nil:
		t.Fatal(pg.err)
	case pg.cluster == nil:
		t.Skip("PostgreSQL: " + pg.skip)
	}
	return pg.cluster.NewDatabase(t)
}

// stopSharedPostgres removes the shared cluster, if a test started it.
func stopSharedPostgres() {
	pg.once.Do(func() {}) // none started: none will be
	if pg.cluster != nil {
		pg.cluster.Remove()
	}
}

// postgresStoreKind runs a store test on a PostgresStore (storeKinds).
func postgresStoreKind(t *testing.T, test func(t *testing.T, s Store)) {
	t.Run("postgres", func(t *testing.T) {
		s, err := NewPostgresStore(postgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		test(t, s)
	})
}

// postgresStorageKind runs an app test with accounts and locks in
// PostgreSQL (storageKinds).
func postgresStorageKind(t *testing.T, cfg Config, test func(t *testing.T, cfg Config)) {
	t.Run("postgres", func(t *testing.T) {
		cfg := cfg
		cfg.PostgresDSN = postgresDSN(t)
		test(t, cfg)
	})
}
