package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/locktest"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
	"github.com/turbomediator/turbomediator-go/providers/postgres/pgtest"
)

// TestConformance runs the provider conformance kit against providers that
// share a cluster of their own (the outage check stops it). The kit holds
// the provider to its FIFO within a provider, and to a Lost within 1s both
// when the holder's session is terminated (the kit's "forget") and when the
// server stops.
func TestConformance(t *testing.T) {
	cluster := pgtest.Start(t)
	dsn := cluster.DSN("postgres")
	opts := &postgres.Options{DialTimeout: time.Second}
	open := func(t *testing.T, dsn string) *postgres.Provider {
		p, err := postgres.New(dsn, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	locktest.Run(t,
		func(t *testing.T) locking.Provider { return open(t, dsn) },
		locktest.WithFIFO(),
		locktest.WithUnreachable(func(t *testing.T) locking.Provider {
			return open(t, "postgres://postgres@127.0.0.1:1/none?sslmode=disable")
		}),
		locktest.WithForget(func(t *testing.T, key string) {
			terminateHolder(t, dsn, postgres.LockID(postgres.DefaultKeyPrefix, key))
		}),
		locktest.WithOutage(
			func(t *testing.T) {
				if err := cluster.Stop(); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T) {
				if err := cluster.StartAgain(); err != nil {
					t.Fatal(err)
				}
			}),
		locktest.WithLostWithin(time.Second),
	)
}

// terminateHolder ends the session that holds advisory lock id.
func terminateHolder(t *testing.T, dsn string, id int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'
		AND granted AND ((classid::bigint << 32) | objid::bigint) = $1`, id).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminating the holder of lock id %d: %d sessions, %v", id, n, err)
	}
}
