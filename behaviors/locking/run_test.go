package locking_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

func TestRunLockedHoldsKeyAndReleases(t *testing.T) {
	p := memory.New()
	ctx := context.Background()
	var token uint64
	err := locking.RunLocked(ctx, p, "nightly-report", time.Second, func(ctx context.Context) error {
		h, ok := locking.FromContext(ctx)
		if !ok || h.Key() != "nightly-report" {
			return errors.New("fn runs without the handle in its context")
		}
		token = h.Token()
		if _, err := p.TryAcquire(context.Background(), "nightly-report", 0); !errors.Is(err, locking.ErrNotAcquired) {
			return errors.New("the key was free while fn ran")
		}
		return nil
	})
	if err != nil || token == 0 {
		t.Fatalf("RunLocked = %v, token %d; want nil and a token", err, token)
	}
	if p.Len() != 0 {
		t.Errorf("provider holds %d keys after RunLocked; want 0", p.Len())
	}
}

func TestRunLockedReturnsFnError(t *testing.T) {
	p := memory.New()
	err := locking.RunLocked(context.Background(), p, "k", 0, func(context.Context) error { return errBoom })
	if err != errBoom {
		t.Errorf("RunLocked = %v; want fn's error as it is", err)
	}
	if p.Len() != 0 {
		t.Errorf("provider holds %d keys; want 0", p.Len())
	}
}

func TestRunLockedContendedDoesNotCallFn(t *testing.T) {
	p := memory.New()
	ctx := context.Background()
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	called := false
	err = locking.RunLocked(ctx, p, "k", 0, func(context.Context) error { called = true; return nil })
	var le *locking.Error
	if !errors.As(err, &le) || !errors.Is(err, locking.ErrNotAcquired) || le.Key != "k" || called {
		t.Errorf("RunLocked on a held key = %v (fn called: %v); want a *locking.Error and no call", err, called)
	}
}

func TestRunLockedUnavailable(t *testing.T) {
	p := newFake()
	p.fail = errors.New("connection refused")
	err := locking.RunLocked(context.Background(), p, "k", 0, func(context.Context) error { return nil })
	if !errors.Is(err, locking.ErrUnavailable) || errors.Is(err, locking.ErrNotAcquired) {
		t.Errorf("RunLocked = %v; want ErrUnavailable, not contention", err)
	}
}

func TestRunLockedLostCancelsFn(t *testing.T) {
	p := newFake()
	p.losable = true
	err := locking.RunLocked(context.Background(), p, "k", 0, func(ctx context.Context) error {
		p.lastHandle().markLost()
		<-ctx.Done()
		if !errors.Is(context.Cause(ctx), locking.ErrLockLost) {
			t.Errorf("cause = %v; want ErrLockLost", context.Cause(ctx))
		}
		return ctx.Err()
	})
	if !errors.Is(err, locking.ErrLockLost) || !errors.Is(err, context.Canceled) {
		t.Errorf("RunLocked = %v; want ErrLockLost and fn's error", err)
	}
	if h := p.lastHandle(); h.releases.Load() != 1 {
		t.Errorf("%d releases after a loss; want 1", h.releases.Load())
	}
}

func TestRunLockedReleasesOnPanicAndCancelledContext(t *testing.T) {
	p := newFake()
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), traceKey{}, "trace-1"))
	func() {
		defer func() {
			if r := recover(); r != "fn exploded" {
				t.Errorf("recovered %v; want fn's panic", r)
			}
		}()
		_ = locking.RunLocked(ctx, p, "k", 0, func(context.Context) error {
			cancel()
			panic("fn exploded")
		})
	}()
	h := p.lastHandle()
	if h.releases.Load() != 1 || h.releaseCtxErr != nil || h.traceID != "trace-1" {
		t.Errorf("release: %d calls, context error %v, trace %v; want 1 call with a live context keeping values", h.releases.Load(), h.releaseCtxErr, h.traceID)
	}
}

func TestRunLockedReentersTheSameKey(t *testing.T) {
	p := memory.New()
	ctx := context.Background()
	err := locking.RunLocked(ctx, p, "k", 0, func(ctx context.Context) error {
		outer, _ := locking.FromContext(ctx)
		return locking.RunLocked(ctx, p, "k", 0, func(ctx context.Context) error {
			inner, _ := locking.FromContext(ctx)
			if inner.Token() != outer.Token() {
				return errors.New("the nested call took a new lock")
			}
			return nil
		})
	})
	if err != nil {
		t.Errorf("nested RunLocked on the same key = %v; want it to borrow the held lock", err)
	}
}

func TestRunLockedRefusesBadArguments(t *testing.T) {
	var nilMemory *memory.Provider
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	if err := locking.RunLocked(ctx, nil, "k", 0, fn); !errors.Is(err, locking.ErrNoProvider) {
		t.Errorf("nil provider: %v", err)
	}
	if err := locking.RunLocked(ctx, nilMemory, "k", 0, fn); !errors.Is(err, locking.ErrNoProvider) {
		t.Errorf("nil *memory.Provider: %v", err)
	}
	if err := locking.RunLocked(ctx, memory.New(), "k", 0, nil); err == nil {
		t.Error("nil fn: no error")
	}
	if err := locking.RunLocked(ctx, memory.New(), "k", -time.Second, fn); err == nil {
		t.Error("negative timeout: no error")
	}
}

// TestSingletonRunsOnOneInstanceAtATime starts three instances on one
// provider, and stops the leader each time: exactly one runs at a time, and
// another takes over.
func TestSingletonRunsOnOneInstanceAtATime(t *testing.T) {
	p := memory.New()
	const instances = 3
	var active atomic.Int32
	leaders := make(chan int, instances)
	cancels := make([]context.CancelFunc, instances)
	results := make(chan error, instances)
	for i := range instances {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		s := &locking.Singleton{Provider: p, Key: "scheduler", Backoff: time.Millisecond}
		go func() {
			results <- s.Run(ctx, func(ctx context.Context) error {
				if n := active.Add(1); n != 1 {
					t.Errorf("%d instances run at once", n)
				}
				leaders <- i
				<-ctx.Done()
				active.Add(-1)
				return nil
			})
		}()
	}
	seen := map[int]bool{}
	for range instances {
		var leader int
		select {
		case leader = <-leaders:
		case <-time.After(10 * time.Second):
			t.Fatal("no instance took over")
		}
		if seen[leader] {
			t.Fatalf("instance %d led twice after being stopped", leader)
		}
		seen[leader] = true
		cancels[leader]()
	}
	for range instances {
		if err := <-results; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v; want context.Canceled", err)
		}
	}
	if p.Len() != 0 {
		t.Errorf("provider holds %d keys after every instance stopped; want 0", p.Len())
	}
}

func TestSingletonTakesOverAfterLoss(t *testing.T) {
	p := newFake()
	p.losable = true
	var mu sync.Mutex
	var reported []error
	terms := make(chan context.Context)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &locking.Singleton{Provider: p, Key: "scheduler", Backoff: time.Millisecond, OnError: func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}}
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(ctx context.Context) error {
			terms <- ctx
			<-ctx.Done()
			return nil
		})
	}()
	first := <-terms
	p.lastHandle().markLost()
	<-first.Done()
	if !errors.Is(context.Cause(first), locking.ErrLockLost) {
		t.Errorf("first term ended with %v; want ErrLockLost", context.Cause(first))
	}
	second := <-terms // campaigned again and won, the lost lease being free
	if h, ok := locking.FromContext(second); !ok || h.Token() != 2 {
		t.Errorf("second term without a fresh grant (token %v)", h)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v; want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || !errors.Is(reported[0], locking.ErrLockLost) {
		t.Errorf("OnError got %v; want the one loss", reported)
	}
}

func TestSingletonRefusesBadConfig(t *testing.T) {
	fn := func(context.Context) error { return nil }
	ctx := context.Background()
	for name, s := range map[string]*locking.Singleton{
		"no provider": {Key: "k"},
		"no key":      {Provider: memory.New()},
		"negative":    {Provider: memory.New(), Key: "k", Wait: -1},
	} {
		if err := s.Run(ctx, fn); err == nil {
			t.Errorf("%s: Run = nil; want an error", name)
		}
	}
	if err := (&locking.Singleton{Provider: memory.New(), Key: "k"}).Run(ctx, nil); err == nil {
		t.Error("nil fn: Run = nil; want an error")
	}
}
