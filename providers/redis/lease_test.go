package redis_test

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// shortLease keeps fault tests quick: a 1s lease extended every 200ms.
var shortLease = redislocks.Options{TTL: time.Second, RefreshInterval: 200 * time.Millisecond}

func lease() *redislocks.Options { o := shortLease; return &o }

func TestTheLeaseIsExtendedWhileHeld(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	// A lease of 2s extended every 500ms: a busy machine's timers may be
	// late by more than a second and stay inside the margin.
	p := newProvider(t, srv.Addr(), &redislocks.Options{TTL: 2 * time.Second, RefreshInterval: 500 * time.Millisecond})
	other := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(4500 * time.Millisecond) // held for more than two leases
	select {
	case <-h.Lost():
		t.Fatal("Lost closed while Redis was healthy")
	default:
	}
	if _, err := other.TryAcquire(ctx, "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("the lease lapsed although it was being extended: %v", err)
	}
	lock, _ := p.StorageKeys("k")
	if ttl, _ := rdb.PTTL(ctx, lock).Result(); ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("PTTL = %s, want within the 2s lease", ttl)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLostClosesWhenTheKeyIsNoLongerOurs(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	p := newProvider(t, srv.Addr(), &redislocks.Options{TTL: 10 * time.Second, RefreshInterval: 200 * time.Millisecond})
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	lock, _ := p.StorageKeys("k")
	// An operator (or an expiry and another process) gave the key away.
	rdb.Set(ctx, lock, "someone-else", time.Minute)
	begin := time.Now()
	select {
	case <-h.Lost():
		// At the next extension (every 200ms), not when the 10s lease
		// would have ended.
		within(t, "noticing the loss", time.Since(begin), 0, 5*time.Second)
	case <-time.After(20 * time.Second):
		t.Fatal("Lost did not close")
	}
	err = h.Release(ctx)
	if !errors.Is(err, locking.ErrLockLost) {
		t.Fatalf("Release of a lost lease = %v, want ErrLockLost", err)
	}
	if got, _ := rdb.Get(ctx, lock).Result(); got != "someone-else" {
		t.Fatalf("Release deleted the new owner's key (now %q)", got)
	}
}

func TestRedisStoppingMidHoldLosesTheLeaseWithinTTLAndRestartRecovers(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), lease())
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	stopped := time.Now()
	select {
	case <-h.Lost():
		// Within the 1s lease on an idle machine; the bound allows for a
		// busy one's late timers.
		within(t, "Lost after the server stopped", time.Since(stopped), 0, 5*time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("Lost did not close within the lease")
	}

	begin := time.Now()
	_, err = p.TryAcquire(ctx, "other", 30*time.Second)
	if !errors.Is(err, locking.ErrUnavailable) || errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("TryAcquire during the outage = %v, want ErrUnavailable only", err)
	}
	var ue *locking.UnavailableError
	if !errors.As(err, &ue) || ue.Key != "other" || ue.Err == nil {
		t.Fatalf("want a *locking.UnavailableError for \"other\" with its cause, got %#v", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("the cause is lost: %v does not match ECONNREFUSED", err)
	}
	// Reported at once, not after waiting out the 30s timeout.
	within(t, "TryAcquire during the outage", time.Since(begin), 0, 10*time.Second)
	if err := h.Release(ctx); !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("Release during the outage = %v, want ErrUnavailable", err)
	}

	srv.Restart()
	restarted := time.Now()
	h2 := acquireAfterRestart(t, p, "k")
	// go-redis, after a burst of dial failures, probes the server once a
	// second before it dials again: recovery takes up to about that (and
	// a busy machine more); acquireAfterRestart gives it 10s.
	t.Logf("recovered %s after the restart", time.Since(restarted))
	if err := h2.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRedisFrozenMidHoldLosesTheLeaseWithinTTL(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), lease())
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	paused := time.Now()
	select {
	case <-h.Lost():
		// Within the 1s lease on an idle machine; a busy one's timers may
		// be late.
		within(t, "Lost after the server froze", time.Since(paused), 0, 5*time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("Lost did not close within the lease")
	}
	srv.Resume()
	_ = h.Release(ctx)
}

func TestAWaiterDuringAnOutageReportsUnavailableNotContention(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	holder := newProvider(t, srv.Addr(), lease())
	p := newProvider(t, srv.Addr(), lease())
	ctx := ctxT(t)
	h, _ := holder.TryAcquire(ctx, "k", 0)
	defer h.Release(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := p.TryAcquire(ctx, "k", 30*time.Second)
		errc <- err
	}()
	waitFor(t, "the waiter's subscription", subscribed(t, newClient(t, srv.Addr()), p, "k"))
	srv.Kill()
	killed := time.Now()
	select {
	case err := <-errc:
		if !errors.Is(err, locking.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		// Well before its 30s timeout.
		within(t, "the waiter noticing the outage", time.Since(killed), 0, 10*time.Second)
	case <-time.After(20 * time.Second):
		t.Fatal("the waiter kept waiting on a dead server")
	}
}

// acquireAfterRestart retries TryAcquire while it reports ErrUnavailable,
// for up to 10s, and fails the test on any other outcome.
func acquireAfterRestart(t *testing.T, p *redislocks.Provider, key string) locking.Handle {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		h, err := p.TryAcquire(ctxT(t), key, time.Second)
		if err == nil {
			return h
		}
		if !errors.Is(err, locking.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after the restart: %v", err)
		}
		<-tick.C
	}
}

// afterLoster is the optional interface the locking behavior looks for
// (locking.LostNotifier).
type afterLoster interface {
	AfterLost(f func()) (stop func() bool)
}

func TestAfterLostRunsOnLossAndStopUnregisters(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	rdb := newClient(t, srv.Addr())
	p := newProvider(t, srv.Addr(), lease())
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := h.(afterLoster)
	if !ok {
		t.Fatal("the Redis handle does not offer AfterLost")
	}
	ran := make(chan string, 3)
	stopKept := n.AfterLost(func() { ran <- "kept" })
	stopDropped := n.AfterLost(func() { ran <- "dropped" })
	if !stopDropped() {
		t.Fatal("stop before the loss = false, want true")
	}
	lock, _ := p.StorageKeys("k")
	rdb.Set(ctx, lock, "someone-else", time.Minute)
	<-h.Lost()
	if got := <-ran; got != "kept" {
		t.Fatalf("ran %q", got)
	}
	if stopKept() {
		t.Fatal("stop after the callback started = true, want false")
	}
	// Registered after the loss: runs at once.
	n.AfterLost(func() { ran <- "late" })
	if got := <-ran; got != "late" {
		t.Fatalf("ran %q", got)
	}
	select {
	case got := <-ran:
		t.Fatalf("%q ran too", got)
	default:
	}
	_ = h.Release(ctx)
}
