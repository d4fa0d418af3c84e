package etcd_test

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/etcd"
)

// TestWaitersAcrossProvidersAreServedInArrivalOrder queues one waiter on
// each of four providers (four "processes"), one after the other: they are
// granted in that order.
func TestWaitersAcrossProvidersAreServedInArrivalOrder(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	ctx := ctxT(t)
	holder := newProvider(t, testOptions(), ep)
	h, err := holder.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	for i := range n {
		p := newProvider(t, testOptions(), ep)
		wg.Go(func() {
			got, err := p.TryAcquire(ctx, "k", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			_ = got.Release(ctx)
		})
		waitFor(t, func() bool { return p.Waiters("k") == 1 })
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("served in order %v, want 0..%d", order, n-1)
		}
	}
}

// TestKeysThatArePrefixesOfEachOtherDoNotContend checks the escaping of
// keys: "a" and "a/b" (and "a%2Fb") are three locks.
func TestKeysThatArePrefixesOfEachOtherDoNotContend(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	ctx := ctxT(t)
	p := newProvider(t, testOptions(), c.Members[0].Endpoint())
	var hs []locking.Handle
	for _, key := range []string{"a/b", "a", "a%2Fb", "a/"} {
		h, err := p.TryAcquire(ctx, key, 0)
		if err != nil {
			t.Fatalf("%q after the others: %v", key, err)
		}
		hs = append(hs, h)
	}
	if _, err := p.TryAcquire(ctx, "a", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("a second lock on \"a\": %v", err)
	}
	for _, h := range hs {
		if err := h.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCloseFailsLaterAcquisitionsAndFreesHeldLocks checks that Close
// revokes the lease (another provider gets the key at once) and that the
// closed provider answers ErrClosed inside ErrUnavailable.
func TestCloseFailsLaterAcquisitionsAndFreesHeldLocks(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	ctx := ctxT(t)
	p := newProvider(t, testOptions(), ep)
	other := newProvider(t, testOptions(), ep)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("a lock held at Close was not reported lost")
	}
	h2, err := other.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatalf("after the holder's provider closed: %v", err)
	}
	_ = h2.Release(ctx)
	_, err = p.TryAcquire(ctx, "k", 0)
	if !errors.Is(err, etcd.ErrClosed) || !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("TryAcquire after Close: %v, want ErrClosed and ErrUnavailable", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

// waitFor polls cond every millisecond for up to 30s: for counts only the
// provider can show.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for a condition")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestUnreachableCostsEachCallerItsOwnBound has 8 goroutines try at once on
// a provider whose etcd does not answer (a listener that accepts and says
// nothing): each reports ErrUnavailable within its own bound (DialTimeout
// 1s), not after the others' attempts.
func TestUnreachableCostsEachCallerItsOwnBound(t *testing.T) {
	noLeaks(t)
	p := newProvider(t, testOptions(), silentListener(t))
	ctx := ctxT(t)
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			_, err := p.TryAcquire(ctx, "k", 0)
			if !errors.Is(err, locking.ErrUnavailable) {
				t.Errorf("TryAcquire: %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("TryAcquire(0) returned after %s with DialTimeout 1s", d)
			}
		})
	}
	wg.Wait()
}

// silentListener accepts connections and never answers; it returns its
// address. Cleanup closes it and the connections.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}
