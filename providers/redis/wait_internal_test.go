package redis

import (
	"context"
	"testing"
	"time"

	"github.com/bsm/redislock"
	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// TestAReleaseBetweenTheFirstTryAndTheSubscriptionIsNotMissed releases the
// lock in the window after a waiter's first attempt failed and before it
// subscribed, so the announcement reaches nobody. With no fallback retries
// and a 30s lease, only the attempt made when the subscription is confirmed
// can get the lock in time.
func TestAReleaseBetweenTheFirstTryAndTheSubscriptionIsNotMissed(t *testing.T) {
	srv := redistest.Start(t)
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()
	opts := &Options{RetryStrategy: redislock.NoRetry}
	holder, err := New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	waiter, err := New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	ctx := context.Background()

	h, err := holder.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	waiter.hookBeforeWait = func() {
		if err := h.Release(ctx); err != nil {
			t.Error(err)
		}
	}
	begin := time.Now()
	h2, err := waiter.TryAcquire(ctx, "k", 5*time.Second)
	if err != nil {
		t.Fatalf("the release in the window was missed: %v", err)
	}
	defer h2.Release(ctx)
	if d := time.Since(begin); d > time.Second {
		t.Fatalf("took %s: the waiter only got the lock by luck", d)
	}
}
