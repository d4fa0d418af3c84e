package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// frozenSlack is what a loaded machine may add to a bound: far below
// frozenReadTimeout, which is what an unbounded call would wait for.
const frozenSlack = 5 * time.Second

// frozenReadTimeout is the read timeout of the frozen tests' clients
// (go-redis's default is 3s, too close to a busy machine's slack).
const frozenReadTimeout = 30 * time.Second

// newFrozenTestProvider is newProvider on a client with a read timeout of
// frozenReadTimeout.
func newFrozenTestProvider(t *testing.T, addr string, opts *redislocks.Options) *redislocks.Provider {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{
		Addr:                  addr,
		DialTimeout:           time.Second,
		ReadTimeout:           frozenReadTimeout,
		WriteTimeout:          frozenReadTimeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            1,
		DialerRetries:         1,
	})
	t.Cleanup(func() { _ = c.Close() })
	p, err := redislocks.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// TestTryAcquireOnAFrozenServerEndsAtTheTimeout freezes Redis (SIGSTOP: the
// connection stays open, nothing answers) and checks that every acquisition
// ends at its own bound — the timeout, the ctx deadline, or for a single try
// the dial timeout — with ErrUnavailable (or ctx's error), not at go-redis's
// read timeout.
func TestTryAcquireOnAFrozenServerEndsAtTheTimeout(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	const dial = 300 * time.Millisecond
	p := newFrozenTestProvider(t, srv.Addr(), &redislocks.Options{DialTimeout: dial})
	holder := newProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)
	if err := p.Ping(ctx); err != nil { // a pooled connection to freeze
		t.Fatal(err)
	}
	h, err := holder.TryAcquire(ctx, "held", 0)
	if err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	// Resumed before the cleanups, so that what the cut calls left behind
	// is given back and the clients close promptly.
	defer srv.Resume()

	cases := []struct {
		name    string
		key     string
		timeout time.Duration
		ctxEnd  time.Duration // 0: no deadline on ctx
		bound   time.Duration
		wantCtx bool
	}{
		{name: "free key, timeout", key: "k", timeout: 200 * time.Millisecond, bound: 200 * time.Millisecond},
		{name: "held key, timeout", key: "held", timeout: 200 * time.Millisecond, bound: 200 * time.Millisecond},
		{name: "ctx deadline first", key: "k", timeout: 10 * time.Second, ctxEnd: 150 * time.Millisecond, bound: 150 * time.Millisecond, wantCtx: true},
		{name: "one try", key: "k", timeout: 0, bound: dial},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cctx := ctx
			if c.ctxEnd > 0 {
				var cancel context.CancelFunc
				cctx, cancel = context.WithTimeout(ctx, c.ctxEnd)
				defer cancel()
			}
			begin := time.Now()
			got, err := p.TryAcquire(cctx, c.key, c.timeout)
			took := time.Since(begin)
			if got != nil {
				t.Fatal("acquired a lock on a frozen server")
			}
			switch {
			case c.wantCtx && !errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("err = %v, want ctx's DeadlineExceeded", err)
			case !c.wantCtx && !errors.Is(err, locking.ErrUnavailable):
				t.Fatalf("err = %v, want ErrUnavailable", err)
			case errors.Is(err, locking.ErrNotAcquired):
				t.Fatalf("err = %v: an unanswered call is not contention", err)
			}
			within(t, "TryAcquire on a frozen server", took, c.bound-20*time.Millisecond, c.bound+frozenSlack)
		})
	}
	srv.Resume()
	_ = h.Release(ctx)
}

// TestAWaiterEndsAtItsTimeoutWhenRedisFreezes: a goroutine already waiting
// for a held key when Redis freezes retries on its backoff; those retries
// are cut at its deadline instead of waiting for go-redis's read timeout.
func TestAWaiterEndsAtItsTimeoutWhenRedisFreezes(t *testing.T) {
	noLeaks(t)
	srv := start(t)
	holder := newProvider(t, srv.Addr(), nil)
	p := newFrozenTestProvider(t, srv.Addr(), nil)
	ctx := ctxT(t)
	h, err := holder.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 600 * time.Millisecond
	type result struct {
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	begin := time.Now()
	go func() {
		got, err := p.TryAcquire(ctx, "k", timeout)
		if got != nil {
			_ = got.Release(ctx)
			err = errors.New("acquired a held lock")
		}
		done <- result{err, time.Since(begin)}
	}()
	waitFor(t, "the waiter's subscription", subscribed(t, newClient(t, srv.Addr()), p, "k"))
	srv.Pause()
	defer srv.Resume()
	r := <-done
	if !errors.Is(r.err, locking.ErrUnavailable) && !errors.Is(r.err, locking.ErrNotAcquired) {
		t.Fatalf("err = %v, want ErrUnavailable (or ErrNotAcquired if no retry was in flight)", r.err)
	}
	within(t, "the waiter on a frozen server", r.took, timeout-20*time.Millisecond, timeout+frozenSlack)
	srv.Resume()
	_ = h.Release(ctx)
}
