package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// TestASubscriptionToAFrozenServerEndsAtTheTimeout freezes Redis in the
// window after a waiter's first attempt found the key taken and before it
// subscribed: the subscription connection, opened then, gets no answer, and
// the wait must still end at the caller's timeout.
func TestASubscriptionToAFrozenServerEndsAtTheTimeout(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t, internalLeakOptions...)
	})
	srv := redistest.Start(t)
	// A read timeout far from the bound below (go-redis's default 3s is
	// what an unbounded call would wait for).
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, ReadTimeout: 30 * time.Second})
	t.Cleanup(func() { _ = client.Close() })
	holder, err := New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Close() })
	waiter, err := New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = waiter.Close() })
	ctx := context.Background()
	h, err := holder.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	waiter.hookBeforeWait = srv.Pause
	const timeout = 300 * time.Millisecond
	begin := time.Now()
	_, err = waiter.TryAcquire(ctx, "k", timeout)
	took := time.Since(begin)
	srv.Resume()
	if !errors.Is(err, locking.ErrUnavailable) && !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("err = %v, want ErrUnavailable or ErrNotAcquired", err)
	}
	if took < timeout-20*time.Millisecond || took > timeout+5*time.Second {
		t.Fatalf("TryAcquire took %s, want about %s", took, timeout)
	}
	_ = h.Release(ctx)
}
