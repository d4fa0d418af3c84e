package locking_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// AccountCommand locks one account; the tests set its handler.
type AccountCommand struct {
	mediator.Command[int]
	locking.DistributedLock `lock:"prefix=account,timeout=30s"`
	ID                      string
}

func (c AccountCommand) LockKey() string { return c.ID }

// FailFastCommand never waits.
type FailFastCommand struct {
	mediator.Command[int]
	locking.DistributedLock `lock:"prefix=account,timeout=0"`
	ID                      string
}

func (c FailFastCommand) LockKey() string { return c.ID }

// SkipCommand never waits and does not throw.
type SkipCommand struct {
	mediator.Command[int]
	locking.DistributedLock `lock:"prefix=account,timeout=0,throw=false"`
	ID                      string
}

func (c SkipCommand) LockKey() string { return c.ID }

// holder runs an AccountCommand whose handler holds the lock until released.
type holder struct {
	entered chan struct{}
	release chan struct{}
	done    chan error
}

func newHolder() *holder {
	return &holder{entered: make(chan struct{}), release: make(chan struct{}), done: make(chan error, 1)}
}

func (h *holder) handle(context.Context, AccountCommand) (int, error) {
	close(h.entered)
	<-h.release
	return 1, nil
}

func (h *holder) start(m *mediator.Mediator, id string) {
	go func() {
		_, err := mediator.Send(context.Background(), m, AccountCommand{ID: id})
		h.done <- err
	}()
	<-h.entered
}

func (h *holder) finish(t *testing.T) {
	t.Helper()
	close(h.release)
	if err := <-h.done; err != nil {
		t.Fatalf("holder's Send: %v", err)
	}
}

func TestOneKeyNeverHasTwoHandlersInside(t *testing.T) {
	var inside, maxInside, total atomic.Int64
	m := build(t,
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) {
			n := inside.Add(1)
			for {
				old := maxInside.Load()
				if n <= old || maxInside.CompareAndSwap(old, n) {
					break
				}
			}
			total.Add(1)
			time.Sleep(10 * time.Microsecond) // widen the window an overlap would need
			inside.Add(-1)
			return 0, nil
		}))
	var wg sync.WaitGroup
	errs := make(chan error, 50*20)
	for range 50 {
		wg.Go(func() {
			for range 20 {
				if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: "shared"}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Send: %v", err)
	}
	if got := maxInside.Load(); got >= 2 {
		t.Fatalf("%d handlers were inside the lock at once", got)
	}
	if got := total.Load(); got != 1000 {
		t.Fatalf("handler ran %d times, want 1000", got)
	}
}

func TestDifferentKeysRunConcurrently(t *testing.T) {
	const n = 50
	var arrived atomic.Int64
	all := make(chan struct{})
	m := build(t,
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) {
			// A barrier: nobody leaves until all n are inside together,
			// which is impossible if the locks serialized them.
			if arrived.Add(1) == n {
				close(all)
			}
			select {
			case <-all:
				return 0, nil
			case <-time.After(10 * time.Second):
				return 0, errors.New("not all handlers were inside at once")
			}
		}))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: fmt.Sprint("acc-", i)}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func lockedMediator(t *testing.T, p *memory.Provider, h *holder, calls *counter) *mediator.Mediator {
	return build(t, withMemory(p),
		locking.WithDistributedLocking[AccountCommand, int](),
		locking.WithDistributedLocking[FailFastCommand, int](),
		locking.WithDistributedLocking[SkipCommand, int](),
		mediator.WithHandler[AccountCommand, int](h.handle),
		mediator.WithHandler[FailFastCommand, int](func(context.Context, FailFastCommand) (int, error) {
			calls.n.Add(1)
			return 7, nil
		}),
		mediator.WithHandler[SkipCommand, int](func(context.Context, SkipCommand) (int, error) {
			calls.n.Add(1)
			return 7, nil
		}))
}

func TestTimeoutZeroFailsAtOnce(t *testing.T) {
	p, h, calls := memory.New(), newHolder(), &counter{}
	m := lockedMediator(t, p, h, calls)
	h.start(m, "42")
	defer h.finish(t)

	start := time.Now()
	res, err := mediator.Send(context.Background(), m, FailFastCommand{ID: "42"})
	elapsed := time.Since(start)
	if elapsed >= 50*time.Millisecond {
		t.Fatalf("Send took %v with timeout 0", elapsed)
	}
	var le *locking.Error
	if !errors.As(err, &le) || !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("err = %v, want a *locking.Error wrapping ErrNotAcquired", err)
	}
	if le.Key != "account:42" || le.Timeout != 0 {
		t.Fatalf("Error = %+v, want Key account:42, Timeout 0", *le)
	}
	if res != 0 || calls.get() != 0 {
		t.Fatalf("res = %d, handler calls = %d; want 0, 0", res, calls.get())
	}
}

func TestThrowFalseReturnsZeroAndSkipsTheHandler(t *testing.T) {
	p, h, calls := memory.New(), newHolder(), &counter{}
	m := lockedMediator(t, p, h, calls)
	h.start(m, "42")
	res, err := mediator.Send(context.Background(), m, SkipCommand{ID: "42"})
	if err != nil || res != 0 || calls.get() != 0 {
		t.Fatalf("Send = %d, %v with %d handler calls; want 0, nil, 0", res, err, calls.get())
	}
	h.finish(t)
	res, err = mediator.Send(context.Background(), m, SkipCommand{ID: "42"})
	if err != nil || res != 7 || calls.get() != 1 {
		t.Fatalf("after release Send = %d, %v with %d calls; want 7, nil, 1", res, err, calls.get())
	}
}

func TestWaiterGetsTheLockWhenTheHolderReleases(t *testing.T) {
	p, h := memory.New(), newHolder()
	var second atomic.Bool
	m := build(t, withMemory(p),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, c AccountCommand) (int, error) {
			if second.Swap(true) {
				return 2, nil
			}
			return h.handle(ctx, c)
		}))
	h.start(m, "42")
	got := make(chan error, 1)
	go func() {
		res, err := mediator.Send(context.Background(), m, AccountCommand{ID: "42"})
		if err == nil && res != 2 {
			err = fmt.Errorf("res = %d, want 2", res)
		}
		got <- err
	}()
	waitFor(t, "the second Send to queue", func() bool { return p.Waiters("account:42") == 1 })
	select {
	case err := <-got:
		t.Fatalf("waiter finished while the lock was held: %v", err)
	default:
	}
	h.finish(t)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if p.Len() != 0 {
		t.Fatalf("provider still holds %d keys", p.Len())
	}
}

func TestReleaseAfterHandlerError(t *testing.T) {
	p := memory.New()
	m := build(t, withMemory(p),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, _ AccountCommand) (int, error) {
			if _, ok := locking.FromContext(ctx); !ok {
				t.Error("handler runs without a handle in its context")
			}
			return 0, errBoom
		}))
	if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"}); !errors.Is(err, errBoom) {
		t.Fatalf("err = %v, want the handler's", err)
	}
	if p.Len() != 0 {
		t.Fatalf("lock kept after a handler error: %d keys held", p.Len())
	}
}

func TestReleaseOnPanicThenPanicGoesOn(t *testing.T) {
	p := memory.New()
	m := build(t, withMemory(p),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) {
			panic("handler exploded")
		}))
	func() {
		defer func() {
			if r := recover(); r != "handler exploded" {
				t.Fatalf("recovered %v, want the handler's panic", r)
			}
		}()
		_, _ = mediator.Send(context.Background(), m, AccountCommand{ID: "1"})
		t.Fatal("Send returned instead of panicking")
	}()
	if p.Len() != 0 {
		t.Fatalf("lock kept after a panic: %d keys held", p.Len())
	}
}

func TestReleaseAfterCallerCancelsWithALiveContext(t *testing.T) {
	fake := newFake()
	entered := make(chan struct{})
	m := build(t, fake.option(),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, _ AccountCommand) (int, error) {
			close(entered)
			<-ctx.Done()
			return 0, ctx.Err()
		}))
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), traceKey{}, "trace-7"))
	done := make(chan error, 1)
	go func() {
		_, err := mediator.Send(ctx, m, AccountCommand{ID: "1"})
		done <- err
	}()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	h := fake.lastHandle()
	if h.releases.Load() != 1 || fake.heldCount() != 0 {
		t.Fatalf("released %d times, %d keys held; want 1, 0", h.releases.Load(), fake.heldCount())
	}
	if h.releaseCtxErr != nil || !h.hasDeadline || h.traceID != "trace-7" {
		t.Fatalf("release context: Err %v, deadline %v, trace %v; want a live context with a deadline and the caller's values",
			h.releaseCtxErr, h.hasDeadline, h.traceID)
	}
}

func TestCancelWhileWaitingReturnsTheContextError(t *testing.T) {
	p, h := memory.New(), newHolder()
	m := build(t, withMemory(p),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](h.handle))
	h.start(m, "9")
	defer h.finish(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := mediator.Send(ctx, m, AccountCommand{ID: "9"})
		done <- err
	}()
	waitFor(t, "the Send to queue", func() bool { return p.Waiters("account:9") == 1 })
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, locking.ErrNotAcquired) || errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("err = %v, want context.Canceled only", err)
	}
}

func TestProviderFailureIsUnavailableWithItsCause(t *testing.T) {
	fake := newFake()
	cause := errors.New("dial tcp 127.0.0.1:1: connection refused")
	fake.fail = cause
	calls := &counter{}
	m := build(t, fake.option(),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) {
			calls.n.Add(1)
			return 1, nil
		}))
	_, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"})
	var ue *locking.UnavailableError
	if !errors.Is(err, locking.ErrUnavailable) || !errors.Is(err, cause) || !errors.As(err, &ue) || ue.Key != "account:1" {
		t.Fatalf("err = %v, want an *UnavailableError for account:1 wrapping the cause", err)
	}
	if errors.Is(err, locking.ErrNotAcquired) {
		t.Fatal("a provider failure looks like contention")
	}
	if calls.get() != 0 {
		t.Fatal("handler ran without the lock")
	}
}

func TestLostLockCancelsTheHandlerAndSendReportsIt(t *testing.T) {
	fake := newFake()
	fake.losable = true
	entered := make(chan struct{})
	causes := make(chan error, 1)
	m := build(t, fake.option(),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, _ AccountCommand) (int, error) {
			close(entered)
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return 5, ctx.Err()
		}))
	done := make(chan error, 1)
	res := make(chan int, 1)
	go func() {
		r, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"})
		res <- r
		done <- err
	}()
	<-entered
	fake.lastHandle().markLost()
	if cause := <-causes; cause != locking.ErrLockLost {
		t.Fatalf("handler's context cause = %v, want ErrLockLost", cause)
	}
	err := <-done
	if !errors.Is(err, locking.ErrLockLost) || <-res != 0 {
		t.Fatalf("Send err = %v, want ErrLockLost and a zero response", err)
	}
	if fake.lastHandle().releases.Load() != 1 {
		t.Fatal("a lost lock was not released")
	}
}

func TestLockThatCannotBeLostStartsNoGoroutine(t *testing.T) {
	fake := newFake() // Lost() is nil
	var during int
	m := build(t, fake.option(),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, _ AccountCommand) (int, error) {
			during = goroutines()
			return 0, nil
		}))
	before := goroutines()
	if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	// A goroutine of an earlier test may still be ending, so fewer is fine;
	// more would be a watcher started for this Send.
	if during > before {
		t.Fatalf("%d goroutines inside the handler, %d before", during, before)
	}
}

func TestWaiterGivesUpAtItsTimeout(t *testing.T) {
	p, h := memory.New(), newHolder()
	m := build(t, withMemory(p),
		locking.WithDistributedLocking[AccountCommand, int](),
		locking.WithDistributedLocking[FailFastCommand, int](func(o *locking.Options) { o.DefaultTimeout = 50 * time.Millisecond }),
		mediator.WithHandler[AccountCommand, int](h.handle),
		mediator.WithHandler[FailFastCommand, int](func(context.Context, FailFastCommand) (int, error) { return 1, nil }))
	h.start(m, "5")
	defer h.finish(t)
	start := time.Now()
	_, err := mediator.Send(context.Background(), m, FailFastCommand{ID: "5"})
	elapsed := time.Since(start)
	var le *locking.Error
	if !errors.As(err, &le) || le.Timeout != 50*time.Millisecond || le.Key != "account:5" {
		t.Fatalf("err = %v, want *Error{account:5, 50ms}", err)
	}
	if elapsed < 50*time.Millisecond || elapsed > 2*time.Second {
		t.Fatalf("gave up after %v, want about 50ms", elapsed)
	}
}
