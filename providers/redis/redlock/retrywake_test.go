package redlock_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bsm/redislock"
	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// releaseFailer is a node's client whose release scripts fail while fail is
// set, and which counts the other scripts it runs (the acquisitions). It
// offers no Options method, so that the provider retries a failed release
// through it, not through a client of its own.
type releaseFailer struct {
	c     *goredis.Client
	fail  *atomic.Bool
	other *atomic.Int64
}

var errInjected = errors.New("injected: the release did not reach the node")

func (f releaseFailer) refuse(ctx context.Context, sha string) *goredis.Cmd {
	if sha == redlock.ReleaseScriptHash && f.fail.Load() {
		cmd := goredis.NewCmd(ctx)
		cmd.SetErr(errInjected)
		return cmd
	}
	if sha != redlock.ReleaseScriptHash {
		f.other.Add(1)
	}
	return nil
}

func (f releaseFailer) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *goredis.Cmd {
	if cmd := f.refuse(ctx, sha); cmd != nil {
		return cmd
	}
	return f.c.EvalSha(ctx, sha, keys, args...)
}

func (f releaseFailer) Eval(ctx context.Context, script string, keys []string, args ...any) *goredis.Cmd {
	if cmd := f.refuse(ctx, goredis.NewScript(script).Hash()); cmd != nil {
		return cmd
	}
	return f.c.Eval(ctx, script, keys, args...)
}

func (f releaseFailer) EvalRO(ctx context.Context, script string, keys []string, args ...any) *goredis.Cmd {
	return f.c.EvalRO(ctx, script, keys, args...)
}

func (f releaseFailer) EvalShaRO(ctx context.Context, sha string, keys []string, args ...any) *goredis.Cmd {
	return f.c.EvalShaRO(ctx, sha, keys, args...)
}

func (f releaseFailer) ScriptExists(ctx context.Context, hashes ...string) *goredis.BoolSliceCmd {
	return f.c.ScriptExists(ctx, hashes...)
}

func (f releaseFailer) ScriptLoad(ctx context.Context, script string) *goredis.StringCmd {
	return f.c.ScriptLoad(ctx, script)
}

func (f releaseFailer) Subscribe(ctx context.Context, channels ...string) *goredis.PubSub {
	return f.c.Subscribe(ctx, channels...)
}

func (f releaseFailer) Ping(ctx context.Context) *goredis.StatusCmd { return f.c.Ping(ctx) }

// TestRedlockReleaseRetriedLaterWakesThisProvidersWaiter: a release that
// fails on every node wakes this provider's waiter at once, whose try is
// refused (the key is still held everywhere). The release is retried in the
// background; when the retries delete the key, the nodes' announcements are
// this provider's own, which it ignores, so the retries themselves must
// wake the waiter. With no fallback retries and a lease far longer than
// the wait, nothing else would: the waiter would give up on a free key.
func TestRedlockReleaseRetriedLaterWakesThisProvidersWaiter(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	var fail atomic.Bool
	var others atomic.Int64
	clients := make([]redlock.Client, len(ns.addrs))
	for i, a := range ns.addrs {
		clients[i] = releaseFailer{c: rlClient(t, a), fail: &fail, other: &others}
	}
	p := redlockOnClients(t, clients, &redlock.Options{
		TTL:           time.Minute,
		RetryStrategy: func() redislock.RetryStrategy { return redislock.NoRetry() },
	})
	ctx := rlCtx(t)
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		h   locking.Handle
		err error
	}
	got := make(chan result, 1)
	go func() {
		h, err := p.TryAcquire(ctx, "k", 20*time.Second)
		got <- result{h, err}
	}()
	waitFor(t, "the waiter to queue", func() bool { return p.Waiters("k") == 1 })
	lock, _ := p.StorageKeys("k")
	waitFor(t, "the subscriptions on every node", ns.subscribed(lock+":released"))

	fail.Store(true)
	before := others.Load()
	if err := h.Release(ctx); !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("Release with every node failing = %v, want ErrUnavailable", err)
	}
	// Woken by the release, the waiter tries every node and is refused.
	waitFor(t, "the waiter's refused try", func() bool { return others.Load() >= before+3 })
	select {
	case r := <-got:
		t.Fatalf("the waiter ended while the key was held everywhere: %v", r.err)
	default:
	}
	fail.Store(false) // the background retries now delete the key

	r := <-got
	if r.err != nil {
		t.Fatalf("the waiter, after the retried release freed the key: %v", r.err)
	}
	_ = r.h.Release(ctx)
}
