package redis_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// pipelineCounter is a go-redis hook that counts the pipelines of more than
// one command a client sent, and their commands.
type pipelineCounter struct {
	pipelines, commands atomic.Int64
}

func (c *pipelineCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (c *pipelineCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return next
}
func (c *pipelineCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if len(cmds) > 1 {
			c.pipelines.Add(1)
			c.commands.Add(int64(len(cmds)))
		}
		return next(ctx, cmds)
	}
}

// TestManyGoroutinesOnDistinctKeysShareRoundTrips: 64 goroutines taking and
// releasing keys of their own get every lock, with tokens, while their
// calls go to Redis together in pipelines — also after Redis forgot its
// scripts (SCRIPT FLUSH) in the middle.
func TestManyGoroutinesOnDistinctKeysShareRoundTrips(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	client := newClient(t, srv.Addr())
	var count pipelineCounter
	client.AddHook(&count)
	p, err := redislocks.New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	rdb := newClient(t, srv.Addr())
	ctx := ctxT(t)
	var wg sync.WaitGroup
	var granted atomic.Int64
	for w := range 64 {
		wg.Go(func() {
			for i := range 50 {
				if w == 0 && i == 25 {
					rdb.ScriptFlush(ctx)
				}
				h, err := p.TryAcquire(ctx, "w"+strconv.Itoa(w)+":"+strconv.Itoa(i%5), 10*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				if h.Token() == 0 {
					t.Error("a grant without a token")
				}
				if err := h.Release(ctx); err != nil {
					t.Error(err)
					return
				}
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if granted.Load() != 64*50 {
		t.Fatalf("%d of %d acquisitions and releases succeeded", granted.Load(), 64*50)
	}
	if count.pipelines.Load() == 0 {
		t.Fatal("64 goroutines never shared a pipeline")
	}
	t.Logf("%d pipelines of %.1f calls on average", count.pipelines.Load(), float64(count.commands.Load())/float64(count.pipelines.Load()))
	if n, _ := rdb.Keys(ctx, "turbo:locks:{w*}").Result(); len(n) != 0 {
		t.Fatalf("%d locks left after every release", len(n))
	}
	if n, _ := rdb.Keys(ctx, "turbo:locks:{w*}:fence").Result(); len(n) != 64*5 {
		t.Fatalf("%d fence counters, want one per key, %d", len(n), 64*5)
	}
}

// TestAQueuedCallEndsWithItsContext: with Redis frozen, calls queued behind
// the ones under way end at their own deadline, as unavailable, not at a
// later caller's.
func TestAQueuedCallEndsWithItsContext(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	p := newProvider(t, srv.Addr(), &redislocks.Options{DialTimeout: 300 * time.Millisecond})
	ctx := ctxT(t)
	// Warm the pool up, then freeze the server.
	for i := range 8 {
		h, err := p.TryAcquire(ctx, "warm"+strconv.Itoa(i), 0)
		if err != nil {
			t.Fatal(err)
		}
		_ = h.Release(ctx)
	}
	srv.Pause()
	defer srv.Resume()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			start := time.Now()
			_, err := p.TryAcquire(ctx, "frozen"+strconv.Itoa(i), 0)
			if !errors.Is(err, locking.ErrUnavailable) {
				t.Errorf("TryAcquire on a frozen server = %v, want ErrUnavailable", err)
			}
			// The bound is the single try's DialTimeout; generous for a
			// busy machine, far below the 60s a lost deadline would take.
			within(t, "a single try on a frozen server", time.Since(start), 0, 10*time.Second)
		})
	}
	wg.Wait()
}
