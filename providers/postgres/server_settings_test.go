package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// TestAStatementTimeoutInTheDSNDoesNotCutAWait: a DSN that sets
// statement_timeout (as an application's often does) does not end the
// provider's waits or holds: its own sessions turn it off.
func TestAStatementTimeoutInTheDSNDoesNotCutAWait(t *testing.T) {
	dsn := database(t) + "&statement_timeout=100&idle_session_timeout=200"
	a, b := newProvider(t, dsn, nil), newProvider(t, dsn, nil)
	h := acquire(t, a, "k", 0)
	got := make(chan error, 1)
	go func() {
		h2, err := b.TryAcquire(context.Background(), "k", time.Minute)
		if err == nil {
			err = h2.Release(context.Background())
		}
		got <- err
	}()
	waitFor(t, "the waiter to queue at the server", func() bool { return serverWaiters(t, dsn) == 1 })
	// Longer than both timeouts: neither the wait nor the idle hold may end.
	time.Sleep(500 * time.Millisecond)
	select {
	case <-h.Lost():
		t.Fatal("the idle holder's session was ended (idle_session_timeout)")
	case err := <-got:
		t.Fatalf("the wait ended early: %v", err)
	default:
	}
	release(t, h)
	if err := <-got; err != nil {
		t.Fatalf("the waiter: %v", err)
	}
}

// TestAWaitCycleAcrossProvidersEndsAtTheTimeoutAsContention: two providers
// that each hold one key and wait for the other's form a cycle the server
// cannot see (each holder and each waiter is a session of its own), so the
// timeouts break it — as contention (ErrNotAcquired) for both, never
// unavailability. (The locking behavior takes a message's keys in sorted
// order so that its own multi-key locks never form such a cycle.)
func TestAWaitCycleAcrossProvidersEndsAtTheTimeoutAsContention(t *testing.T) {
	dsn := database(t)
	a, b := newProvider(t, dsn, nil), newProvider(t, dsn, nil)
	ha, hb := acquire(t, a, "x", 0), acquire(t, b, "y", 0)
	defer release(t, ha)
	defer release(t, hb)
	const timeout = time.Second
	errs := make(chan error, 2)
	for _, w := range []struct {
		p   locking.Provider
		key string
	}{{a, "y"}, {b, "x"}} {
		go func() {
			h, err := w.p.TryAcquire(context.Background(), w.key, timeout)
			if h != nil {
				_ = h.Release(context.Background())
			}
			errs <- err
		}()
	}
	for range 2 {
		select {
		case err := <-errs:
			isNotAcquired(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("the cycle was not broken by the timeouts")
		}
	}
}
