package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
	"github.com/turbomediator/turbomediator-go/providers/postgres/pgtest"
)

// holdUntilCancelled is a locked command whose handler reports its token
// and then waits for its context to end.
type holdUntilCancelled struct {
	mediator.Command[error]
	locking.DistributedLock `lock:"timeout=5s"`
	Account                 string
	held                    chan<- uint64
	cause                   chan<- error
	cancelledAt             chan<- time.Time
}

func (c holdUntilCancelled) LockKey() string { return c.Account }

// holdHandler tells the test it holds the lock, then reports the cause with
// which its context was cancelled.
func holdHandler(ctx context.Context, c holdUntilCancelled) (error, error) {
	h, _ := locking.FromContext(ctx)
	c.held <- h.Token()
	<-ctx.Done()
	c.cancelledAt <- time.Now()
	c.cause <- context.Cause(ctx)
	return nil, nil
}

// holdResult is how a holdUntilCancelled Send ended.
type holdResult struct {
	cause, err  error     // the handler's cancellation cause, Send's error
	cancelledAt time.Time // when the handler saw its context end
}

// sendHold runs holdUntilCancelled in the background; result gets how it
// ended.
func sendHold(m *mediator.Mediator, account string) (held <-chan uint64, result <-chan holdResult) {
	h := make(chan uint64, 1)
	r := make(chan holdResult, 1)
	go func() {
		cause := make(chan error, 1)
		at := make(chan time.Time, 1)
		_, err := mediator.Send(context.Background(), m, holdUntilCancelled{Account: account, held: h, cause: cause, cancelledAt: at})
		r <- holdResult{cause: <-cause, err: err, cancelledAt: <-at}
	}()
	return h, r
}

// holderPid finds the backend that holds key's advisory lock.
func holderPid(t *testing.T, dsn string, p *postgres.Provider, key string) int {
	t.Helper()
	conn := connect(t, dsn)
	var pid int
	err := conn.QueryRow(ctxT(t), `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND ((classid::bigint << 32) | objid::bigint) = $1`, p.LockID(key)).Scan(&pid)
	if err != nil {
		t.Fatalf("finding the holder of %q: %v", key, err)
	}
	return pid
}

// expectLost checks that Send ended with ErrLockLost and the handler's
// context was cancelled with that cause.
func expectLost(t *testing.T, result <-chan holdResult, since time.Time, what string) {
	t.Helper()
	select {
	case r := <-result:
		within(t, what, r.cancelledAt.Sub(since), 0, time.Second)
		if !errors.Is(r.cause, locking.ErrLockLost) {
			t.Fatalf("the handler's context was cancelled with %v, want ErrLockLost", r.cause)
		}
		if !errors.Is(r.err, locking.ErrLockLost) {
			t.Fatalf("Send = %v, want ErrLockLost", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the handler was never cancelled", what)
	}
}

// TestTerminatedBackendLosesTheLockWithinASecond: pg_terminate_backend on
// the holder's session closes Lost at once (the watcher reads the FATAL
// message), the handler's context is cancelled with ErrLockLost, Send
// reports it, and the key can be had again with a larger token.
func TestTerminatedBackendLosesTheLockWithinASecond(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	m := build(t,
		postgres.WithPostgresDistributedLocking(dsn),
		locking.WithDistributedLocking[holdUntilCancelled, error](),
		mediator.WithHandler[holdUntilCancelled, error](holdHandler),
	)
	p := providerOf(t, m)
	held, result := sendHold(m, "acct:7")
	token := <-held
	pid := holderPid(t, dsn, p, "holdUntilCancelled:acct:7")
	conn := connect(t, dsn)
	var ok bool
	terminating := time.Now()
	if err := conn.QueryRow(ctxT(t), "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
	expectLost(t, result, terminating, "Lost after pg_terminate_backend")
	h := acquire(t, p, "holdUntilCancelled:acct:7", time.Second)
	defer release(t, h)
	if h.Token() <= token {
		t.Fatalf("token %d after the lost %d", h.Token(), token)
	}
}

// TestServerRestartMidHoldLosesTheLockThenServesAgain: a server restarted
// while a handler holds a lock ends its session: the handler is cancelled
// with ErrLockLost within a second of the shutdown; while the server is
// down, Send reports ErrUnavailable (not contention); once it is back, locks
// are granted again with tokens above every earlier one, after an orderly
// restart and after a crash.
func TestServerRestartMidHoldLosesTheLockThenServesAgain(t *testing.T) {
	noLeaks(t)
	cluster := pgtest.Start(t)
	dsn := cluster.DSN("postgres")
	m := build(t,
		postgres.WithPostgresDistributedLocking(dsn, func(o *postgres.Options) { o.DialTimeout = time.Second }),
		locking.WithDistributedLocking[holdUntilCancelled, error](),
		mediator.WithHandler[holdUntilCancelled, error](holdHandler),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](tokenHandler),
	)
	held, result := sendHold(m, "acct:1")
	last := <-held
	stopping := time.Now()
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	expectLost(t, result, stopping, "Lost after the server's shutdown")
	_, err := mediator.Send(ctxT(t), m, withdraw{Account: "1"})
	isUnavailable(t, err)

	for _, restart := range []struct {
		name string
		do   func() error
	}{
		{"start", cluster.StartAgain},
		{"crash", cluster.Crash},
		{"restart", cluster.Restart},
	} {
		if err := restart.do(); err != nil {
			t.Fatalf("%s: %v", restart.name, err)
		}
		tok, err := mediator.Send(ctxT(t), m, withdraw{Account: "1"})
		if err != nil {
			t.Fatalf("Send after %s: %v", restart.name, err)
		}
		if tok <= last {
			t.Fatalf("token %d after %s, not above the earlier %d", tok, restart.name, last)
		}
		last = tok
	}
}

// TestAfterLostRunsOnLossAndStopUnregisters: the handle offers
// locking.LostNotifier; a registered callback runs when the session ends, an
// unregistered one does not.
func TestAfterLostRunsOnLossAndStopUnregisters(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	p := newProvider(t, dsn, nil)
	h := acquire(t, p, "k", 0)
	n, ok := h.(locking.LostNotifier)
	if !ok {
		t.Fatal("the handle does not offer AfterLost")
	}
	ran := make(chan struct{})
	n.AfterLost(func() { close(ran) })
	stop := n.AfterLost(func() { t.Error("an unregistered callback ran") })
	if !stop() {
		t.Fatal("stop before the loss reported false")
	}
	conn := connect(t, dsn)
	if _, err := conn.Exec(ctxT(t), "SELECT pg_terminate_backend($1)", holderPid(t, dsn, p, "k")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the callback did not run")
	}
	// The locking behavior watches the signal itself, not AfterLost.
	if sig, ok := h.(interface{ LostSignal() *locking.LostSignal }); !ok || !sig.LostSignal().Fired() {
		t.Errorf("the handle's LostSignal (offered: %t) has not fired with the loss", ok)
	}
	if err := h.Release(context.Background()); !errors.Is(err, locking.ErrLockLost) {
		t.Fatalf("Release of a lost lock = %v, want ErrLockLost", err)
	}
	if inUse, _ := p.Conns(); inUse != 0 {
		t.Fatalf("%d connections in use after the lost lock's release", inUse)
	}
}

// TestLostRightAfterTheGrant: a session terminated in the first
// milliseconds of a hold (before the session watcher has started) still
// closes Lost within a second.
func TestLostRightAfterTheGrant(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	p := newProvider(t, dsn, nil)
	conn := connect(t, dsn)
	h := acquire(t, p, "k", 0)
	granted := time.Now()
	var n int
	err := conn.QueryRow(ctxT(t), `SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'
		AND granted AND ((classid::bigint << 32) | objid::bigint) = $1`, p.LockID("k")).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminating the holder: %d, %v", n, err)
	}
	t.Logf("terminated %s after the grant", time.Since(granted))
	terminated := time.Now()
	select {
	case <-h.Lost():
		within(t, "Lost after an early termination", time.Since(terminated), 0, time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("Lost did not close")
	}
	if err := h.Release(context.Background()); !errors.Is(err, locking.ErrLockLost) {
		t.Fatalf("Release = %v, want ErrLockLost", err)
	}
}
