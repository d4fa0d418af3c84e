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
	// script is the SHA1 of the script that fails while fail is set: a
	// handle's release (redlock.ReleaseScriptHash) when "".
	script string
	// acquires, when set, counts the attempts the node answered.
	acquires *atomic.Int64
}

var errInjected = errors.New("injected: the release did not reach the node")

func (f releaseFailer) refuse(ctx context.Context, sha string) *goredis.Cmd {
	failing := f.script
	if failing == "" {
		failing = redlock.ReleaseScriptHash
	}
	if sha == failing && f.fail.Load() {
		cmd := goredis.NewCmd(ctx)
		cmd.SetErr(errInjected)
		return cmd
	}
	if sha != failing {
		f.other.Add(1)
	}
	return nil
}

// answered counts an attempt the node answered.
func (f releaseFailer) answered(sha string, cmd *goredis.Cmd) *goredis.Cmd {
	if f.acquires != nil && sha == redlock.AcquireScriptHash && cmd.Err() == nil {
		f.acquires.Add(1)
	}
	return cmd
}

func (f releaseFailer) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *goredis.Cmd {
	if cmd := f.refuse(ctx, sha); cmd != nil {
		return cmd
	}
	return f.answered(sha, f.c.EvalSha(ctx, sha, keys, args...))
}

func (f releaseFailer) Eval(ctx context.Context, script string, keys []string, args ...any) *goredis.Cmd {
	sha := goredis.NewScript(script).Hash()
	if cmd := f.refuse(ctx, sha); cmd != nil {
		return cmd
	}
	return f.answered(sha, f.c.Eval(ctx, script, keys, args...))
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
	got := acquireAsync(ctx, p, "k", 20*time.Second)
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

// TestRedlockAGiveBackThatFreesTheKeyWakesThisProvidersWaiter: the
// waiter's failed tries leave grants on nodes 0 and 1 whose give-backs fail
// for a while (a failed attempt's grant, or a late one that landed after
// its lock's release, is given back in the background). Meanwhile another
// owner frees nodes 1 and 2 one after the other; each announcement wakes the
// waiter, whose try is refused by its own earlier grants. When the
// give-backs at last delete those, the key is free everywhere, and the
// nodes' announcements of the deletions are this provider's own, which it
// ignores: the give-backs themselves must wake the waiter. With no fallback
// retries and leases far longer than the wait, nothing else would (the
// busy-machine flake of TestRedlockWaitersOfOneProviderAreServedInArrivalOrder).
func TestRedlockAGiveBackThatFreesTheKeyWakesThisProvidersWaiter(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	var fail, never atomic.Bool
	var others atomic.Int64
	acquires := make([]atomic.Int64, 3)
	clients := make([]redlock.Client, len(ns.addrs))
	for i, a := range ns.addrs {
		f := releaseFailer{c: rlClient(t, a), fail: &fail, other: &others, script: redlock.GiveBackScriptHash, acquires: &acquires[i]}
		if i == 2 {
			f.fail = &never
		}
		clients[i] = f
	}
	p := redlockOnClients(t, clients, &redlock.Options{
		TTL:           time.Minute,
		RetryStrategy: func() redislock.RetryStrategy { return redislock.NoRetry() },
	})
	ctx := rlCtx(t)
	lock, _ := p.StorageKeys("k")
	channel := lock + ":released"
	// The other owner holds nodes 1 and 2; its release deletes a node's
	// lock and announces it with its own value.
	for _, i := range []int{1, 2} {
		if err := ns.peek[i].Set(ctx, lock, "someone-else", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	free := func(i int) {
		t.Helper()
		if err := ns.peek[i].Del(ctx, lock).Err(); err != nil {
			t.Fatal(err)
		}
		if err := ns.peek[i].Publish(ctx, channel, "someone-else").Err(); err != nil {
			t.Fatal(err)
		}
	}
	// tries reports whether every node answered n of the waiter's tries.
	tries := func(n int64) func() bool {
		return func() bool {
			for i := range acquires {
				if acquires[i].Load() < n {
					return false
				}
			}
			return true
		}
	}
	fail.Store(true)
	got := acquireAsync(ctx, p, "k", 20*time.Second)
	// Try 1: node 0 grants (its give-back fails), nodes 1 and 2 refuse.
	// Try 2, once subscribed: refused everywhere.
	waitFor(t, "the waiter's first two tries", tries(2))
	waitFor(t, "the subscriptions on every node", ns.subscribed(channel))
	// Try 3: node 1 grants (its give-back fails), nodes 0 and 2 refuse.
	free(1)
	waitFor(t, "the waiter's third try", tries(3))
	// Try 4: node 2 grants and gives back; nodes 0 and 1 refuse, held by
	// the waiter's own tries 1 and 3.
	free(2)
	waitFor(t, "the waiter's fourth try", tries(4))
	select {
	case r := <-got:
		t.Fatalf("the waiter ended while its own grants held nodes 0 and 1: %v", r.err)
	default:
	}

	fail.Store(false) // the background give-backs now free nodes 0 and 1
	r := <-got
	if r.err != nil {
		t.Fatalf("the waiter, after the give-backs freed the key: %v", r.err)
	}
	if err := r.h.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
