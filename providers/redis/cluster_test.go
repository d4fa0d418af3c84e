package redis_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bsm/redislock"
	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// TestACommaSeparatedAddressLocksOnARedisCluster runs the provider on a real
// three-master cluster: keys spread over every node (the hash tag keeps each
// lock and its counter in one slot, or the scripts would fail with
// CROSSSLOT), and a waiter is woken by a release announced on another node.
func TestACommaSeparatedAddressLocksOnARedisCluster(t *testing.T) {
	noLeaks(t)
	c := redistest.StartCluster(t, 3)
	ctx := ctxT(t)
	m := build(t,
		redislocks.WithRedisDistributedLocking(strings.Join(c.Addrs(), ",")),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](tokenHandler),
	)
	last := make([]uint64, 30)
	for round := 1; round <= 2; round++ {
		for i := range 30 {
			tok, err := mediator.Send(ctx, m, withdraw{Account: strconv.Itoa(i)})
			if err != nil || tok <= last[i] {
				t.Fatalf("account %d, round %d: token %d after %d, %v", i, round, tok, last[i], err)
			}
			last[i] = tok
		}
	}
	p := providerOf(t, m)
	nodes := map[string]bool{}
	for i := range 30 {
		_, fence := p.StorageKeys("withdraw:" + strconv.Itoa(i))
		for _, addr := range c.Addrs() {
			if n, err := redistest.Command(addr, "EXISTS", fence); err == nil && n == "1" {
				nodes[addr] = true
			}
		}
	}
	if len(nodes) != 3 {
		t.Fatalf("the 30 counters live on %d nodes, want all 3", len(nodes))
	}

	// Two providers with their own cluster clients, as two processes.
	newClusterProvider := func() *redislocks.Provider {
		client := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs(), ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = client.Close() })
		p, err := redislocks.New(client, &redislocks.Options{RetryStrategy: redislock.NoRetry})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		return p
	}
	holder, waiter := newClusterProvider(), newClusterProvider()
	h, err := holder.TryAcquire(ctx, "shared", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		h2, err := waiter.TryAcquire(ctx, "shared", 10*time.Second)
		if err == nil {
			err = h2.Release(context.Background())
		}
		got <- err
	}()
	// Subscriptions are per node: the waiter's is on one of them.
	var onSomeNode []func() bool
	for _, addr := range c.Addrs() {
		onSomeNode = append(onSomeNode, subscribed(t, newClient(t, addr), waiter, "shared"))
	}
	waitFor(t, "the waiter's subscription", func() bool {
		for _, f := range onSomeNode {
			if f() {
				return true
			}
		}
		return false
	})
	released := time.Now()
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// No fallback retries and a 30s lease: only the announcement, crossing
	// the cluster bus, explains this.
	within(t, "handoff on the cluster", time.Since(released), 0, time.Second)
}
