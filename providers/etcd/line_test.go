package etcd_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// TestOnlyTheFirstWaiterOfAProviderHasAnEntryInEtcd queues 50 goroutines
// of one provider behind another provider's holder: etcd sees one entry
// for the 50 (the first's), not 50 — each entry would make every read of
// the queue, one per handoff, longer — and they are served in arrival
// order when the holder lets go.
func TestOnlyTheFirstWaiterOfAProviderHasAnEntryInEtcd(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	admin := newClient(t, ep)
	holderP := newProvider(t, testOptions(), ep)
	p := newProvider(t, testOptions(), ep)
	ctx := ctxT(t)
	holder, err := holderP.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			h, err := p.TryAcquire(ctx, "k", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			if err := h.Release(ctx); err != nil {
				t.Error(err)
			}
		})
		waitFor(t, func() bool { return p.Waiters("k") == i+1 })
	}
	resp, err := admin.Get(ctx, p.QueuePrefix("k"), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 2 {
		t.Errorf("etcd's queue holds %d entries with %d waiters of one provider, want 2 (the holder's and the first waiter's)", resp.Count, n)
	}
	if err := holder.Release(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, w := range order {
		if w != i {
			t.Fatalf("served in order %v, want arrival order", order)
		}
	}
}

// TestWaiterGivingUpInLineLeavesTheOthersInOrder has the second of three
// waiters of a provider time out and the third's context cancelled while
// they wait in the provider's line: both report it (ErrNotAcquired; the
// context's error), and the first, then a later arrival, still get the
// lock.
func TestWaiterGivingUpInLineLeavesTheOthersInOrder(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	holderP := newProvider(t, testOptions(), ep)
	p := newProvider(t, testOptions(), ep)
	ctx := ctxT(t)
	holder, err := holderP.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan locking.Handle, 1)
	go func() {
		h, err := p.TryAcquire(ctx, "k", time.Minute)
		if err != nil {
			t.Error(err)
		}
		first <- h
	}()
	waitFor(t, func() bool { return p.Waiters("k") == 1 })
	if _, err := p.TryAcquire(ctx, "k", 50*time.Millisecond); !isNotAcquired(err) {
		t.Fatalf("second waiter: %v, want ErrNotAcquired", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancelled := make(chan error, 1)
	go func() {
		_, err := p.TryAcquire(cctx, "k", time.Minute)
		cancelled <- err
	}()
	waitFor(t, func() bool { return p.Waiters("k") == 2 })
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v, want context.Canceled", err)
	}
	if err := holder.Release(ctx); err != nil {
		t.Fatal(err)
	}
	h := <-first
	if h == nil {
		t.FailNow()
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	h, err = p.TryAcquire(ctx, "k", time.Minute)
	if err != nil {
		t.Fatalf("a later arrival: %v", err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if n := p.Waiters("k"); n != 0 {
		t.Errorf("Waiters %d after everyone left, want 0", n)
	}
}

func isNotAcquired(err error) bool {
	var le *locking.Error
	return errors.Is(err, locking.ErrNotAcquired) && errors.As(err, &le)
}

// TestCloseEndsTheWaitOfEveryCallerInLine closes a provider while five of
// its callers wait for a key another provider holds (one in etcd's queue,
// four in the provider's line): every one returns, with ErrUnavailable,
// and none is granted.
func TestCloseEndsTheWaitOfEveryCallerInLine(t *testing.T) {
	noLeaks(t)
	c := startOne(t)
	ep := c.Members[0].Endpoint()
	holderP := newProvider(t, testOptions(), ep)
	p := newProvider(t, testOptions(), ep)
	ctx := ctxT(t)
	holder, err := holderP.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	results := make(chan error, n)
	for i := range n {
		go func() {
			h, err := p.TryAcquire(ctx, "k", time.Minute)
			if err == nil {
				_ = h.Release(ctx)
				err = errors.New("granted")
			}
			results <- err
		}()
		waitFor(t, func() bool { return p.Waiters("k") == i+1 })
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for range n {
		select {
		case err := <-results:
			if !errors.Is(err, locking.ErrUnavailable) {
				t.Errorf("a waiter after Close: %v, want ErrUnavailable", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a waiter still waits 30s after Close")
		}
	}
	if err := holder.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
