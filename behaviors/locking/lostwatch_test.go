package locking_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// signalProvider hands out fake handles whose loss is told by a
// locking.LostSignal that the behavior can reach (LostSignal()), as the
// Redis providers' handles are.
type signalProvider struct{ *fakeProvider }

func (p signalProvider) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	h, err := p.fakeProvider.TryAcquire(ctx, key, timeout)
	if err != nil {
		return nil, err
	}
	return &signalHandle{fakeHandle: h.(*fakeHandle)}, nil
}

type signalHandle struct {
	*fakeHandle
	sig locking.LostSignal
}

func (h *signalHandle) Lost() <-chan struct{}           { return h.sig.Channel() }
func (h *signalHandle) LostSignal() *locking.LostSignal { return &h.sig }

func signalMediator(t *testing.T, handler func(context.Context, AccountCommand) (int, error)) *mediator.Mediator {
	t.Helper()
	fake := newFake()
	return build(t,
		locking.WithDistributedLockProvider[signalProvider](func() signalProvider { return signalProvider{fake} }),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](handler))
}

// unlosableProvider is signalProvider with handles that cannot be lost:
// the same allocations in the provider, and nothing to watch.
type unlosableProvider struct{ *fakeProvider }

func (p unlosableProvider) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	h, err := p.fakeProvider.TryAcquire(ctx, key, timeout)
	if err != nil {
		return nil, err
	}
	return &unlosableHandle{fakeHandle: h.(*fakeHandle)}, nil
}

type unlosableHandle struct {
	*fakeHandle
	_ locking.LostSignal // the same size as signalHandle
}

// afterLostProvider hands out fake handles that tell their loss through
// LostNotifier.AfterLost only, on a LostSignal the behavior cannot reach.
type afterLostProvider struct{ *fakeProvider }

func (p afterLostProvider) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	h, err := p.fakeProvider.TryAcquire(ctx, key, timeout)
	if err != nil {
		return nil, err
	}
	return &afterLostHandle{fakeHandle: h.(*fakeHandle)}, nil
}

type afterLostHandle struct {
	*fakeHandle
	sig locking.LostSignal
}

func (h *afterLostHandle) Lost() <-chan struct{}                 { return h.sig.Channel() }
func (h *afterLostHandle) AfterLost(f func()) (stop func() bool) { return h.sig.AfterLost(f) }

// allocsPerSend is the allocations of one uncontended Send on m.
func allocsPerSend(m *mediator.Mediator) float64 {
	ctx := context.Background()
	send := func() { _, _ = mediator.Send(ctx, m, AccountCommand{ID: "42"}) }
	for range 1000 {
		send() // the fake's list of handles grows
	}
	return testing.AllocsPerRun(1000, send)
}

// A LostNotifier handle costs the Send the watch, one callback and what
// LostSignal.AfterLost allocates (its registration and stop function): no
// Lost channel, no stop channel, no cancellable context while the handler
// does not ask for one. (It cost ten.)
func TestALockWatchedThroughAfterLostCostsFourAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations")
	}
	handler := func(context.Context, AccountCommand) (int, error) { return 0, nil }
	fake, fake2 := newFake(), newFake()
	watched := build(t,
		locking.WithDistributedLockProvider[afterLostProvider](func() afterLostProvider { return afterLostProvider{fake} }),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](handler))
	unwatched := build(t,
		locking.WithDistributedLockProvider[unlosableProvider](func() unlosableProvider { return unlosableProvider{fake2} }),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](handler))
	base, got := allocsPerSend(unwatched), allocsPerSend(watched)
	if got != base+4 {
		t.Fatalf("allocs per Send = %v with a LostNotifier handle, %v with one that cannot be lost; want four more", got, base)
	}
}

// A handle watched through its LostSignal costs the Send one allocation
// for the watch over a handle that cannot be lost: no channel, no
// callback, no goroutine, and no cancellable context while the handler
// does not ask for one. (The watch through LostNotifier.AfterLost cost
// ten.)
func TestALockWatchedThroughItsSignalCostsOneAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector adds allocations")
	}
	handler := func(context.Context, AccountCommand) (int, error) { return 0, nil }
	watched := signalMediator(t, handler)
	fake := newFake()
	unwatched := build(t,
		locking.WithDistributedLockProvider[unlosableProvider](func() unlosableProvider { return unlosableProvider{fake} }),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](handler))
	base, got := allocsPerSend(unwatched), allocsPerSend(watched)
	if got != base+1 {
		t.Fatalf("allocs per Send = %v with a watched handle, %v with one that cannot be lost; want one more", got, base)
	}
}

func TestALossToldByTheSignalCancelsTheHandlersContextAndItsChildren(t *testing.T) {
	entered := make(chan *signalHandle)
	causes := make(chan error, 2)
	m := signalMediator(t, func(ctx context.Context, _ AccountCommand) (int, error) {
		child, cancel := context.WithTimeout(ctx, time.Hour)
		defer cancel()
		h, _ := locking.FromContext(ctx)
		entered <- h.(*signalHandle)
		select {
		case <-child.Done():
		case <-time.After(time.Minute):
			return 0, errors.New("the child context was not cancelled")
		}
		causes <- context.Cause(child)
		causes <- context.Cause(ctx)
		return 5, ctx.Err()
	})
	done := make(chan error, 1)
	go func() {
		_, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"})
		done <- err
	}()
	(<-entered).sig.Fire()
	for _, what := range []string{"child's", "handler's"} {
		if cause := <-causes; cause != locking.ErrLockLost {
			t.Fatalf("the %s context's cause = %v, want ErrLockLost", what, cause)
		}
	}
	if err := <-done; !errors.Is(err, locking.ErrLockLost) {
		t.Fatalf("Send = %v, want ErrLockLost", err)
	}
}

// A loss that comes before the handler first looks at its context leaves it
// cancelled when it looks.
func TestALossBeforeTheHandlerLooksLeavesItsContextCancelled(t *testing.T) {
	entered := make(chan *signalHandle)
	lost := make(chan struct{})
	var sawErr, sawCause error
	m := signalMediator(t, func(ctx context.Context, _ AccountCommand) (int, error) {
		h, _ := locking.FromContext(ctx)
		entered <- h.(*signalHandle)
		<-lost
		select {
		case <-ctx.Done():
		case <-time.After(time.Minute):
			return 0, errors.New("the context was not cancelled")
		}
		sawErr, sawCause = ctx.Err(), context.Cause(ctx)
		return 0, nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"})
		done <- err
	}()
	h := <-entered
	h.sig.Fire()
	close(lost)
	if err := <-done; !errors.Is(err, locking.ErrLockLost) {
		t.Fatalf("Send = %v, want ErrLockLost", err)
	}
	if !errors.Is(sawErr, context.Canceled) || sawCause != locking.ErrLockLost {
		t.Fatalf("handler saw Err %v, cause %v; want context.Canceled and ErrLockLost", sawErr, sawCause)
	}
}

// The handler's context keeps the caller's values and deadline, answers
// FromContext, and ends once the handler returned, whether or not the
// handler looked at its cancellation before.
func TestTheHandlersContextOfAWatchedLockEndsWithTheHandler(t *testing.T) {
	type userKey struct{}
	deadline := time.Now().Add(time.Hour)
	caller, cancel := context.WithDeadline(context.WithValue(context.Background(), userKey{}, "v"), deadline)
	defer cancel()
	kept := map[string]context.Context{}
	m := signalMediator(t, func(ctx context.Context, c AccountCommand) (int, error) {
		if _, ok := locking.FromContext(ctx); !ok {
			return 0, errors.New("FromContext found no lock")
		}
		if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
			return 0, errors.New("the caller's deadline is missing")
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if c.ID == "looked" {
			select {
			case <-ctx.Done():
				return 0, errors.New("done while the lock is held")
			default:
			}
			if ctx.Value(userKey{}) != "v" {
				return 0, errors.New("the caller's value is missing")
			}
		}
		kept[c.ID] = ctx
		return 0, nil
	})
	for _, id := range []string{"looked", "unlooked"} {
		if _, err := mediator.Send(caller, m, AccountCommand{ID: id}); err != nil {
			t.Fatalf("Send(%s) = %v", id, err)
		}
		ctx := kept[id]
		if err := ctx.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: the handler's context after Send: Err = %v, want context.Canceled", id, err)
		}
		select {
		case <-ctx.Done():
		default:
			t.Fatalf("%s: the handler's context is not done after Send", id)
		}
		if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
			t.Fatalf("%s: cause = %v, want context.Canceled", id, cause)
		}
	}
}
