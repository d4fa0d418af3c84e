package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
)

// TestTwoProvidersExcludeEachOther: a key held through one provider cannot
// be had through another on the same database until it is released, and the
// next grant carries a larger token.
func TestTwoProvidersExcludeEachOther(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	a, b := newProvider(t, dsn, nil), newProvider(t, dsn, nil)
	h := acquire(t, a, "acct:1", time.Second)
	_, err := b.TryAcquire(ctxT(t), "acct:1", 0)
	isNotAcquired(t, err)
	other := acquire(t, b, "acct:2", 0) // another key is free
	release(t, other)
	release(t, h)
	h2 := acquire(t, b, "acct:1", 0)
	if h2.Token() <= h.Token() {
		t.Fatalf("token %d after %d", h2.Token(), h.Token())
	}
	release(t, h2)
}

// TestTimeoutZeroFailsAtOnce: with timeout 0 a taken key is reported at
// once, as contention.
func TestTimeoutZeroFailsAtOnce(t *testing.T) {
	dsn := database(t)
	a, b := newProvider(t, dsn, nil), newProvider(t, dsn, nil)
	h := acquire(t, a, "k", 0)
	defer release(t, h)
	start := time.Now()
	_, err := b.TryAcquire(ctxT(t), "k", 0)
	isNotAcquired(t, err)
	within(t, "a single try", time.Since(start), 0, 2*time.Second)
}

// TestWaitEndsAtTheTimeout: a waiter on a key held elsewhere gives up near
// its timeout with contention (the server's lock_timeout ends the wait), and
// the waiting connection is reused afterwards.
func TestWaitEndsAtTheTimeout(t *testing.T) {
	dsn := database(t)
	a, b := newProvider(t, dsn, nil), newProvider(t, dsn, nil)
	h := acquire(t, a, "k", 0)
	defer release(t, h)
	const timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := b.TryAcquire(ctxT(t), "k", timeout)
	isNotAcquired(t, err)
	var le *locking.Error
	errors.As(err, &le)
	if le.Key != "k" || le.Timeout != timeout {
		t.Fatalf("error = %+v, want key k and timeout %s", le, timeout)
	}
	within(t, "a wait of 300ms", time.Since(start), timeout-10*time.Millisecond, timeout+5*time.Second)
	if inUse, _ := b.Conns(); inUse != 0 {
		t.Fatalf("%d connections still in use after the wait", inUse)
	}
}

// TestReleaseWakesTheWaiter: a waiter in the server's queue gets the lock
// when the holder (another provider) releases, long before its timeout.
func TestReleaseWakesTheWaiter(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	a, b := newProvider(t, dsn, nil), newProvider(t, dsn, nil)
	h := acquire(t, a, "k", 0)
	got := make(chan locking.Handle, 1)
	go func() {
		h2, err := b.TryAcquire(context.Background(), "k", time.Minute)
		if err != nil {
			t.Error(err)
		}
		got <- h2
	}()
	waitFor(t, "the waiter to queue at the server", func() bool { return serverWaiters(t, dsn) == 1 })
	released := time.Now()
	release(t, h)
	h2 := <-got
	if h2 == nil {
		return
	}
	within(t, "the hand-over", time.Since(released), 0, 5*time.Second)
	if h2.Token() <= h.Token() {
		t.Fatalf("token %d after %d", h2.Token(), h.Token())
	}
	release(t, h2)
}

// TestCancelEndsTheServerWait: cancelling the caller's context ends a wait
// in the server's queue at once with ctx's error, and leaves no waiting
// session behind in the server.
func TestCancelEndsTheServerWait(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	a, b := newProvider(t, dsn, nil), newProvider(t, dsn, nil)
	h := acquire(t, a, "k", 0)
	defer release(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.TryAcquire(ctx, "k", time.Minute)
		done <- err
	}()
	waitFor(t, "the waiter to queue at the server", func() bool { return serverWaiters(t, dsn) == 1 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, locking.ErrNotAcquired) || errors.Is(err, locking.ErrUnavailable) {
			t.Fatalf("err = %v, want context.Canceled only", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled wait did not end")
	}
	waitFor(t, "the server's queue to empty", func() bool { return serverWaiters(t, dsn) == 0 })
}

// TestContextDeadlineBoundsTheWait: a context deadline shorter than the
// timeout ends the wait with ctx's error.
func TestContextDeadlineBoundsTheWait(t *testing.T) {
	dsn := database(t)
	a, b := newProvider(t, dsn, nil), newProvider(t, dsn, nil)
	h := acquire(t, a, "k", 0)
	defer release(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.TryAcquire(ctx, "k", time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("err = %v, want the context's deadline (or contention at it)", err)
	}
	within(t, "a wait bounded by a 300ms context", time.Since(start), 250*time.Millisecond, 10*time.Second)
}

// TestFIFOWithinAProvider: goroutines of one provider waiting for a key get
// it in the order they asked, and only the first of them waits at the
// server.
func TestFIFOWithinAProvider(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	holder, p := newProvider(t, dsn, nil), newProvider(t, dsn, nil)
	h := acquire(t, holder, "k", 0)
	const n = 6
	var order []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			h, err := p.TryAcquire(context.Background(), "k", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			if err := h.Release(context.Background()); err != nil {
				t.Error(err)
			}
		})
		waitFor(t, "the waiter to queue", func() bool { return p.Waiters("k") == i+1 })
	}
	// The head may still be on its way to the server's queue.
	waitFor(t, "the head to wait at the server", func() bool { return serverWaiters(t, dsn) >= 1 })
	if got := serverWaiters(t, dsn); got != 1 {
		t.Fatalf("%d sessions wait at the server, want 1 (the head)", got)
	}
	if inUse, _ := p.Conns(); inUse != 1 {
		t.Fatalf("the waiting provider uses %d connections, want 1", inUse)
	}
	release(t, h)
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("grant order %v, want 0..%d", order, n-1)
		}
	}
	if p.Waiters("k") != 0 {
		t.Fatal("the key's queue was not freed")
	}
}

// TestTokensComeFromOneSequence: tokens grow with every grant, on any key,
// and keep growing after the provider is replaced.
func TestTokensComeFromOneSequence(t *testing.T) {
	dsn := database(t)
	p := newProvider(t, dsn, nil)
	var last uint64
	for i := range 20 {
		h := acquire(t, p, []string{"a", "b"}[i%2], 0)
		if h.Token() <= last {
			t.Fatalf("token %d after %d", h.Token(), last)
		}
		last = h.Token()
		release(t, h)
	}
	q := newProvider(t, dsn, nil)
	h := acquire(t, q, "a", 0)
	defer release(t, h)
	if h.Token() <= last {
		t.Fatalf("a new provider's token %d after %d", h.Token(), last)
	}
}

// TestReleaseIsIdempotent: Release twice, concurrently, with a cancelled
// context: one unlock, no error, and the key is free.
func TestReleaseIsIdempotent(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	p := newProvider(t, dsn, nil)
	h := acquire(t, p, "k", 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var wg sync.WaitGroup
	var errs atomic.Int32
	for range 4 {
		wg.Go(func() {
			if err := h.Release(ctx); err != nil {
				errs.Add(1)
				t.Error(err)
			}
		})
	}
	wg.Wait()
	release(t, acquire(t, newProvider(t, dsn, nil), "k", 0))
	if n := heldAdvisoryLocks(t, dsn); n != 0 {
		t.Fatalf("%d advisory locks still held", n)
	}
}

// TestLockIDMatchesTheDocumentedSQL: operators can compute a key's lock id
// in SQL as the documentation says, and find the held lock in pg_locks.
func TestLockIDMatchesTheDocumentedSQL(t *testing.T) {
	dsn := database(t)
	p := newProvider(t, dsn, nil)
	h := acquire(t, p, "acct:42", 0)
	defer release(t, h)
	conn := connect(t, dsn)
	var id int64
	err := conn.QueryRow(ctxT(t), `SELECT ('x' || left(encode(sha256(convert_to($1 || $2, 'UTF8')), 'hex'), 16))::bit(64)::bigint`,
		postgres.DefaultKeyPrefix, "acct:42").Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	if id != p.LockID("acct:42") {
		t.Fatalf("SQL says %d, Go says %d", id, p.LockID("acct:42"))
	}
	var held int
	err = conn.QueryRow(ctxT(t), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND ((classid::bigint << 32) | objid::bigint) = $1`, id).Scan(&held)
	if err != nil || held != 1 {
		t.Fatalf("pg_locks shows %d grants of id %d (%v), want 1", held, id, err)
	}
}

// TestCloseReleasesEverything: Close ends a wait in progress with ErrClosed,
// marks a held lock lost, gives it back in the server and leaves no
// goroutine; TryAcquire afterwards fails with ErrClosed.
func TestCloseReleasesEverything(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	other := newProvider(t, dsn, nil)
	p, err := postgres.New(dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := acquire(t, p, "mine", 0)
	blocker := acquire(t, other, "theirs", 0)
	defer release(t, blocker)
	done := make(chan error, 1)
	go func() {
		_, err := p.TryAcquire(context.Background(), "theirs", time.Minute)
		done <- err
	}()
	waitFor(t, "the waiter to queue at the server", func() bool { return serverWaiters(t, dsn) == 1 })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, postgres.ErrClosed) || !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("the wait ended with %v, want ErrClosed", err)
	}
	select {
	case <-h.Lost():
	default:
		t.Fatal("a lock held at Close is not marked lost")
	}
	if err := h.Release(context.Background()); err != nil {
		t.Fatalf("Release after Close: %v", err)
	}
	_, err = p.TryAcquire(context.Background(), "x", 0)
	if !errors.Is(err, postgres.ErrClosed) {
		t.Fatalf("TryAcquire after Close: %v, want ErrClosed", err)
	}
	release(t, acquire(t, other, "mine", 0))
}

// TestContentionAndUnavailabilityDiffer: a stopped server is ErrUnavailable,
// never ErrNotAcquired, for a single try and for a wait; a refused
// connection is reported well within the timeout.
func TestContentionAndUnavailabilityDiffer(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	p := newProvider(t, dsn, &postgres.Options{DialTimeout: time.Second})
	// A port nobody listens on.
	dead, err := postgres.New("postgres://postgres@127.0.0.1:1/none?sslmode=disable", &postgres.Options{DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	for _, timeout := range []time.Duration{0, 2 * time.Second} {
		_, err := dead.TryAcquire(ctxT(t), "k", timeout)
		isUnavailable(t, err)
	}
	if err := dead.Ping(ctxT(t)); !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("Ping of a dead server: %v", err)
	}
	h := acquire(t, p, "k", 0)
	release(t, h)
}

// TestConnectionLimit: past Options.MaxConns held locks, TryAcquire reports
// ErrUnavailable wrapping ErrConnectionLimit (not contention), and works
// again once a lock is released.
func TestConnectionLimit(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	p := newProvider(t, dsn, &postgres.Options{MaxConns: 2, DialTimeout: 200 * time.Millisecond})
	h1, h2 := acquire(t, p, "a", 0), acquire(t, p, "b", 0)
	_, err := p.TryAcquire(ctxT(t), "c", 0)
	isUnavailable(t, err)
	if !errors.Is(err, postgres.ErrConnectionLimit) {
		t.Fatalf("err = %v, want ErrConnectionLimit", err)
	}
	release(t, h1)
	release(t, acquire(t, p, "c", 0))
	release(t, h2)
}

// waitFor polls cond (an observation of the server or the provider, not a
// synchronisation of our own) until it holds, failing after 20s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serverWaiters counts the sessions waiting for an advisory lock in dsn's
// database.
func serverWaiters(t testing.TB, dsn string) int {
	return countLocks(t, dsn, "NOT granted")
}

// heldAdvisoryLocks counts the advisory locks granted in dsn's database.
func heldAdvisoryLocks(t testing.TB, dsn string) int {
	return countLocks(t, dsn, "granted")
}

func countLocks(t testing.TB, dsn, cond string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND d.datname = current_database() AND `+cond).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCloseEndsAWaitForAConnection: with every connection in use, a caller
// waiting for one is ended by Close with ErrClosed at once, and Close does
// not wait out the caller's timeout.
func TestCloseEndsAWaitForAConnection(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	p, err := postgres.New(dsn, &postgres.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	acquire(t, p, "a", 0) // takes the only connection; Close releases it
	done := make(chan error, 1)
	go func() {
		_, err := p.TryAcquire(context.Background(), "b", time.Minute)
		done <- err
	}()
	waitFor(t, "the caller to queue", func() bool { return p.Waiters("b") == 1 })
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	within(t, "Close", time.Since(start), 0, 10*time.Second)
	if err := <-done; !errors.Is(err, postgres.ErrClosed) {
		t.Fatalf("the wait for a connection ended with %v, want ErrClosed", err)
	}
}
