package redlock_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bsm/redislock"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// TestRedlockReleaseWakesAWaiterOfAnotherProvider: a waiter of another
// Redlock provider, with clients of its own (as another process would have)
// and no fallback retries, is woken by the release announced on the nodes
// instead of waiting for the holder's 30s lease to run out.
func TestRedlockReleaseWakesAWaiterOfAnotherProvider(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	holder := ns.redlock(t, nil)
	noRetries := &redlock.Options{RetryStrategy: func() redislock.RetryStrategy { return redislock.NoRetry() }}
	waiter := ns.redlock(t, noRetries)
	ctx := rlCtx(t)

	h, err := holder.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		h   locking.Handle
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		got, err := waiter.TryAcquire(ctx, "k", 10*time.Second)
		done <- result{got, err, time.Now()}
	}()
	lock, _ := waiter.StorageKeys("k")
	channel := lock + ":released"
	waitFor(t, "the waiter's subscription on every node", ns.subscribed(channel))
	released := time.Now() // the waiter may be woken before Release returns
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("the waiter: %v", r.err)
		}
		// A few ms on an idle machine; without fallback retries only the
		// announcement explains a grant before the 10s timeout (the lease
		// is 30s), so the bound can leave a busy machine seconds.
		within(t, "release to acquisition", r.at.Sub(released), 0, 5*time.Second)
		if err := r.h.Release(ctx); err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the release did not wake the waiter of the other provider")
	}
	// The waiter's subscriptions end with its wait.
	waitFor(t, "the subscriptions to end", ns.unsubscribed(channel))
}

// TestRedlockTimeoutDuringARetryIsContentionNotUnavailable: a retry still
// waiting for the nodes when the timeout comes is cut off by it; since the
// nodes had already refused, the caller sees contention, not an outage.
func TestRedlockTimeoutDuringARetryIsContentionNotUnavailable(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	holder := ns.redlock(t, nil)
	// The waiter reaches every node through a proxy that makes each answer
	// 20ms late, so one of its fast retries is in flight most of the time.
	clients := make([]redlock.Client, len(ns.addrs))
	for i, a := range ns.addrs {
		proxy := redistesting.NewProxy(t, a)
		redistesting.AddToxic(t, proxy, `{"name":"slow","type":"latency","stream":"downstream","attributes":{"latency":20}}`)
		clients[i] = rlClient(t, proxy.Listen)
	}
	waiter, err := redlock.New(clients, &redlock.Options{MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = waiter.Close() })
	ctx := rlCtx(t)

	h, err := holder.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	// Warm up: the first wait opens the connections, several round trips.
	if _, err := waiter.TryAcquire(ctx, "k", time.Second); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("warm-up: err = %v, want ErrNotAcquired", err)
	}
	// The timeout is long enough for the first attempt's answers to come
	// back even on a busy machine (an attempt that the timeout cuts before
	// any node answered is an outage: nothing was heard), and short enough
	// to end during one of the fast retries.
	for i := range 5 {
		_, err := waiter.TryAcquire(ctx, "k", time.Second)
		var le *locking.Error
		if !errors.As(err, &le) || errors.Is(err, locking.ErrUnavailable) {
			t.Fatalf("try %d: err = %v, want *locking.Error (contention)", i, err)
		}
		if le.Key != "k" || le.Timeout != time.Second {
			t.Fatalf("try %d: error = %+v, want Key k, Timeout 1s", i, *le)
		}
	}
}

// TestRedlockWakeUpWithAFrozenNode: with one node of three frozen, a waiter
// of another provider without fallback retries is still woken by the
// release, which the two live nodes announce. The waiter has no connection
// to the frozen node yet: its subscriptions to the live nodes must not wait
// behind the frozen one's, whichever place the frozen node has in the list.
func TestRedlockWakeUpWithAFrozenNode(t *testing.T) {
	for _, frozen := range []int{0, 2} {
		t.Run(fmt.Sprintf("node-%d-frozen", frozen), func(t *testing.T) { redlockWakeUpWithAFrozenNode(t, frozen) })
	}
}

func redlockWakeUpWithAFrozenNode(t *testing.T, frozen int) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	opts := func() *redlock.Options {
		// A node timeout that live nodes meet on a busy machine: a live
		// node missing it would make the waiter's attempt an outage.
		return &redlock.Options{NodeTimeout: time.Second, RetryStrategy: func() redislock.RetryStrategy { return redislock.NoRetry() }}
	}
	holder := ns.redlock(t, opts())
	waiter := ns.redlock(t, opts())
	ctx := rlCtx(t)
	// The waiter's connections are open before the freeze: its attempt
	// then costs the live nodes one round trip each.
	if err := waiter.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := holder.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The grant returns with a majority; the frozen node must not be one
	// of only two that hold it, or the release could not reach a majority.
	lock, _ := holder.StorageKeys("k")
	waitFor(t, "the lock on every node", func() bool {
		o := ns.owners(t, lock)
		return o[0] != "" && o[0] == o[1] && o[1] == o[2]
	})
	ns.srvs[frozen].Pause()
	defer ns.srvs[frozen].Resume()
	done := acquireAsync(ctx, waiter, "k", 10*time.Second)
	channel := lock + ":released"
	waitFor(t, "the waiter's subscription on the live nodes", ns.subscribed(channel, frozen))
	released := time.Now()
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("the waiter: %v", r.err)
	}
	// The lease is 30s: only the announcement can explain a quick grant.
	within(t, "release to acquisition with a frozen node", time.Since(released), 0, 2*time.Second)
	ns.srvs[frozen].Resume()
	_ = r.h.Release(ctx)
}

// TestRedlockWaitersOfOneProviderAreServedInArrivalOrder: five goroutines
// of one Redlock provider queue for a key held by the same provider, or by
// another (whose release reaches them only as the nodes' announcement); with
// no fallback retries, each release must wake the next in line, and only
// it: woken together they would split the nodes' votes, and a newcomer
// would barge in.
func TestRedlockWaitersOfOneProviderAreServedInArrivalOrder(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	noRetries := &redlock.Options{RetryStrategy: func() redislock.RetryStrategy { return redislock.NoRetry() }}
	for _, holderKind := range []string{"same-provider", "other-provider"} {
		t.Run(holderKind, func(t *testing.T) {
			p := ns.redlock(t, noRetries)
			holder := p
			if holderKind == "other-provider" {
				holder = ns.redlock(t, noRetries)
			}
			ctx := rlCtx(t)
			// A key of its own: the other subtest's last release may still
			// be on its way to a node.
			key := "k-" + holderKind
			h, err := holder.TryAcquire(ctx, key, 0)
			if err != nil {
				t.Fatal(err)
			}
			lock, _ := p.StorageKeys(key)
			order := make(chan int, 5)
			var wg sync.WaitGroup
			for i := range 5 {
				wg.Go(func() {
					hi, err := p.TryAcquire(ctx, key, 10*time.Second)
					if err != nil {
						t.Error(err)
						return
					}
					order <- i
					_ = hi.Release(ctx)
				})
				waitFor(t, "the waiter to queue", func() bool { return p.Waiters(key) == i+1 })
			}
			// Every node knows of the waiters before the first release.
			waitFor(t, "the subscriptions on every node", ns.subscribed(lock+":released"))
			if err := h.Release(ctx); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			close(order)
			want := 0
			for i := range order {
				if i != want {
					t.Fatalf("waiter %d served when %d was due", i, want)
				}
				want++
			}
			if want != 5 {
				t.Fatalf("%d waiters served, want 5", want)
			}
			if n := p.Waiters(key); n != 0 {
				t.Fatalf("Waiters = %d after every waiter was served", n)
			}
		})
	}
}

// subscribed reports whether every node but those in except has a
// subscriber on channel.
func (ns *rlNodes) subscribed(channel string, except ...int) func() bool {
	return func() bool {
		for i, c := range ns.peek {
			if slices.Contains(except, i) {
				continue
			}
			n, err := c.PubSubNumSub(context.Background(), channel).Result()
			if err != nil || n[channel] == 0 {
				return false
			}
		}
		return true
	}
}

// unsubscribed reports whether no node has a subscriber on channel.
func (ns *rlNodes) unsubscribed(channel string) func() bool {
	return func() bool {
		for _, c := range ns.peek {
			n, err := c.PubSubNumSub(context.Background(), channel).Result()
			if err != nil || n[channel] != 0 {
				return false
			}
		}
		return true
	}
}
