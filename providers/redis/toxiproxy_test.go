package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
)

func TestLocksHoldAndHandOffThroughAddedLatency(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	proxy := redistesting.NewProxy(t, srv.Addr())
	// Every reply from Redis arrives 25ms late (and so does every
	// announcement on the subscription connection).
	redistesting.AddToxic(t, proxy, `{"name":"slow","type":"latency","stream":"downstream","attributes":{"latency":25}}`)
	// A lease of 2s extended every 500ms: 25ms of latency is well inside
	// the margin, and so are a busy machine's timer delays (over a second).
	slow := newProvider(t, proxy.Listen, &redislocks.Options{TTL: 2 * time.Second, RefreshInterval: 500 * time.Millisecond})
	direct := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)

	h, err := slow.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(4500 * time.Millisecond) // two leases and more, each extension 25ms late
	select {
	case <-h.Lost():
		t.Fatal("latency below the refresh margin lost the lease")
	default:
	}
	if _, err := direct.TryAcquire(ctx, "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("the lease lapsed under latency: %v", err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}

	// A slow waiter is still woken by a direct holder's release.
	hd, _ := direct.TryAcquire(ctx, "k", 0)
	got := make(chan time.Duration, 1)
	go func() {
		hs, err := slow.TryAcquire(ctx, "k", 10*time.Second)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- 0
		hs.Release(ctx)
	}()
	waitFor(t, "the waiter's subscription", subscribed(t, newClient(t, srv.Addr()), slow, "k"))
	released := time.Now()
	hd.Release(ctx)
	if _, ok := <-got; ok {
		// Woken: announcement 25ms + acquire reply 25ms on an idle
		// machine (a fallback retry that reaches Redis just after the
		// release needs only the reply). The upper bound allows for a
		// busy one; the waiter's timeout is 10s. Handoff latency is
		// measured by the benchmarks, not here.
		within(t, "handoff through 25ms latency", time.Since(released), 25*time.Millisecond, 5*time.Second)
	}
}

func TestCutConnectionsLoseTheLeaseFailFastAndRecover(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	proxy := redistesting.NewProxy(t, srv.Addr())
	p := newProvider(t, proxy.Listen, lease())
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Stop() // every connection is cut and no new one is accepted
	cut := time.Now()
	select {
	case <-h.Lost():
		// Within the 1s lease on an idle machine; the bound allows for a
		// busy one's late timers.
		within(t, "Lost after the cut", time.Since(cut), 0, 3*shortLease.TTL)
	case <-time.After(5 * time.Second):
		t.Fatal("Lost did not close within the lease")
	}
	begin := time.Now()
	if _, err := p.TryAcquire(ctx, "other", 5*time.Second); !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("TryAcquire across a cut link = %v, want ErrUnavailable", err)
	}
	within(t, "TryAcquire across a cut link", time.Since(begin), 0, 500*time.Millisecond)

	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	// The lost lease is still in Redis until it runs out; then it is ours.
	h2 := acquireAfterRestart(t, p, "k")
	if h2.Token() <= h.Token() {
		t.Fatalf("token %d after %d", h2.Token(), h.Token())
	}
	_ = h.Release(ctx)
	if err := h2.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestABlackholedLinkLosesTheLeaseWithinTTL(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	proxy := redistesting.NewProxy(t, srv.Addr())
	p := newProvider(t, proxy.Listen, lease())
	ctx := ctxT(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Data stops flowing but the connections stay open: only deadlines help.
	redistesting.AddToxic(t, proxy, `{"name":"hole","type":"timeout","stream":"upstream","attributes":{"timeout":0}}`)
	holed := time.Now()
	select {
	case <-h.Lost():
		within(t, "Lost in a blackhole", time.Since(holed), 0, shortLease.TTL+50*time.Millisecond)
	case <-time.After(3 * time.Second):
		t.Fatal("Lost did not close within the lease")
	}
	if err := proxy.Toxics.RemoveToxic(context.Background(), "hole"); err != nil {
		t.Fatal(err)
	}
	_ = h.Release(ctx)
}
