package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
)

// database returns the DSN of a fresh database on the shared cluster.
func database(t testing.TB) string {
	t.Helper()
	if shared == nil {
		t.Skip("\n" + strings.Repeat("!", 78) + "\n!!! SKIPPED: pgtest: " + sharedSkip + "\n" + strings.Repeat("!", 78))
	}
	return shared.NewDatabase(t)
}

// newProvider builds a provider on dsn and closes it at cleanup.
func newProvider(t testing.TB, dsn string, opts *postgres.Options) *postgres.Provider {
	t.Helper()
	p, err := postgres.New(dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := p.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	return p
}

// newPool opens an application pool on dsn, closed at cleanup.
func newPool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// connect opens a plain session on dsn (the test's own, not a provider's),
// closed at cleanup.
func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctxT(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// ctxT is a context that ends with the test.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// noLeaks checks at cleanup (after the providers registered later have
// closed) that no goroutine is left.
func noLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
}

// acquire takes key or fails the test.
func acquire(t testing.TB, p locking.Provider, key string, timeout time.Duration) locking.Handle {
	t.Helper()
	h, err := p.TryAcquire(ctxT(t), key, timeout)
	if err != nil {
		t.Fatalf("TryAcquire(%q): %v", key, err)
	}
	return h
}

// release releases h or fails the test.
func release(t testing.TB, h locking.Handle) {
	t.Helper()
	if err := h.Release(context.Background()); err != nil {
		t.Fatalf("Release(%q): %v", h.Key(), err)
	}
}

// isNotAcquired checks that err is contention and nothing else.
func isNotAcquired(t testing.TB, err error) {
	t.Helper()
	var le *locking.Error
	if !errors.Is(err, locking.ErrNotAcquired) || !errors.As(err, &le) || errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("err = %v, want a *locking.Error (ErrNotAcquired) only", err)
	}
}

// isUnavailable checks that err is a provider failure and not contention.
func isUnavailable(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, locking.ErrUnavailable) || errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("err = %v, want ErrUnavailable only", err)
	}
}

// within fails the test unless lo <= d <= hi.
func within(t testing.TB, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Fatalf("%s took %s, want between %s and %s", what, d, lo, hi)
	}
}
