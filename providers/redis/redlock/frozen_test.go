package redlock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// TestRedlockOnAFrozenMajorityEndsAtTheTimeout: with two of three nodes
// frozen and a NodeTimeout longer than the caller's timeout, TryAcquire ends
// at the timeout (or ctx's deadline), not at the NodeTimeout.
func TestRedlockOnAFrozenMajorityEndsAtTheTimeout(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	clients := make([]redlock.Client, len(ns.addrs))
	for i, a := range ns.addrs {
		c := goredis.NewClient(&goredis.Options{
			Addr: a, DialTimeout: 200 * time.Millisecond, ContextTimeoutEnabled: true,
			ReadTimeout: 2 * frozenNodeTimeout, WriteTimeout: 2 * frozenNodeTimeout,
			MaxRetries: 1, DialerRetries: 1,
		})
		t.Cleanup(func() { _ = c.Close() })
		clients[i] = c
	}
	r := redlockOnClients(t, clients, &redlock.Options{NodeTimeout: frozenNodeTimeout})
	ctx := rlCtx(t)
	if err := r.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	ns.srvs[0].Pause()
	ns.srvs[1].Pause()
	defer ns.srvs[0].Resume()
	defer ns.srvs[1].Resume()

	begin := time.Now()
	_, err := r.TryAcquire(ctx, "k", 200*time.Millisecond)
	if !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	within(t, "Redlock TryAcquire on a frozen majority", time.Since(begin), 180*time.Millisecond, 200*time.Millisecond+frozenSlack)

	cctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	begin = time.Now()
	_, err = r.TryAcquire(cctx, "k", 10*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ctx's DeadlineExceeded", err)
	}
	within(t, "Redlock TryAcquire until ctx's deadline", time.Since(begin), 130*time.Millisecond, 150*time.Millisecond+frozenSlack)
}
