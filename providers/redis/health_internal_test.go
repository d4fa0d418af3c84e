package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/bsm/redislock"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
)

// splitClient runs scripts on one client and subscribes through another, so
// a test can break the subscription connection alone.
type splitClient struct {
	*goredis.Client
	subscriber *goredis.Client
}

func (c splitClient) Subscribe(ctx context.Context, channels ...string) *goredis.PubSub {
	return c.subscriber.Subscribe(ctx, channels...)
}

// TestASilentlyDeadSubscriptionIsReplaced blackholes the subscription
// connection (no error, no data: a firewall that drops the flow). The health
// check must notice the unanswered ping, replace the connection once the
// link works again, and a release must then wake the waiter — which has no
// fallback retries and faces a 30s lease, so only the announcement helps.
func TestASilentlyDeadSubscriptionIsReplaced(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t, internalLeakOptions...)
	})
	srv := redistest.Start(t)
	proxy := toxiproxy.NewProxy(toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop()), "sub", "127.0.0.1:0", srv.Addr())
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	direct := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer direct.Close()
	viaProxy := goredis.NewClient(&goredis.Options{Addr: proxy.Listen, ContextTimeoutEnabled: true, DialTimeout: time.Second, MaxRetries: 1, DialerRetries: 1})
	defer viaProxy.Close()

	holder, err := New(direct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	waiter, err := New(splitClient{Client: direct, subscriber: viaProxy}, &Options{RetryStrategy: redislock.NoRetry})
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	waiter.waiters.SetHealthCheck(100 * time.Millisecond)
	ctx := context.Background()
	channel := base.NewKeys(DefaultKeyPrefix, "k").Channel

	h, err := holder.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		h2, err := waiter.TryAcquire(ctx, "k", 20*time.Second)
		if err == nil {
			err = h2.Release(ctx)
		}
		got <- err
	}()
	poll(t, "the subscription", func() bool { c, _ := waiter.waiters.State(channel); return c })

	if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(`{"name":"hole","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`)); err != nil {
		t.Fatal(err)
	}
	poll(t, "the dead connection to be replaced", func() bool { _, n := waiter.waiters.State(channel); return n >= 1 })
	if err := proxy.Toxics.RemoveToxic(ctx, "hole"); err != nil {
		t.Fatal(err)
	}
	poll(t, "a confirmed subscription again", func() bool { c, _ := waiter.waiters.State(channel); return c })

	released := time.Now()
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(released); d > time.Second {
		t.Fatalf("the waiter took %s: the announcement did not reach it", d)
	}
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
