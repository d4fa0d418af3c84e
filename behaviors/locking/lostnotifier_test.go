package locking_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// notifyingProvider hands out fake handles that also implement
// locking.LostNotifier.
type notifyingProvider struct{ *fakeProvider }

func (p notifyingProvider) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	h, err := p.fakeProvider.TryAcquire(ctx, key, timeout)
	if err != nil {
		return nil, err
	}
	return &notifyingHandle{fakeHandle: h.(*fakeHandle)}, nil
}

type notifyingHandle struct {
	*fakeHandle
	mu         sync.Mutex
	callbacks  []func()
	registered int
	stopped    int
}

func (h *notifyingHandle) AfterLost(f func()) (stop func() bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.registered++
	h.callbacks = append(h.callbacks, f)
	i := len(h.callbacks) - 1
	return func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.callbacks[i] == nil {
			return false
		}
		h.callbacks[i] = nil
		h.stopped++
		return true
	}
}

// lose closes Lost and runs the callbacks still registered.
func (h *notifyingHandle) lose() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.markLost()
	for i, f := range h.callbacks {
		if f != nil {
			h.callbacks[i] = nil
			go f()
		}
	}
}

func TestALostNotifierIsWatchedWithoutAGoroutineAndUnregistered(t *testing.T) {
	fake := newFake()
	fake.losable = true
	var handle *notifyingHandle
	var during int
	m := build(t,
		locking.WithDistributedLockProvider[notifyingProvider](func() notifyingProvider { return notifyingProvider{fake} }),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, _ AccountCommand) (int, error) {
			h, _ := locking.FromContext(ctx)
			handle = h.(*notifyingHandle)
			during = goroutines()
			return 7, nil
		}))
	before := goroutines()
	if res, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"}); err != nil || res != 7 {
		t.Fatalf("Send = %d, %v", res, err)
	}
	// A goroutine of an earlier test may still be ending, so fewer is fine;
	// more would be a watcher started for this Send.
	if during > before {
		t.Fatalf("%d goroutines inside the handler, %d before", during, before)
	}
	if handle.registered != 1 || handle.stopped != 1 {
		t.Fatalf("AfterLost registered %d, stopped %d; want 1 and 1", handle.registered, handle.stopped)
	}
}

func TestALostNotifierCancelsTheHandlerWithErrLockLost(t *testing.T) {
	fake := newFake()
	fake.losable = true
	entered := make(chan *notifyingHandle)
	causes := make(chan error, 1)
	m := build(t,
		locking.WithDistributedLockProvider[notifyingProvider](func() notifyingProvider { return notifyingProvider{fake} }),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, _ AccountCommand) (int, error) {
			h, _ := locking.FromContext(ctx)
			entered <- h.(*notifyingHandle)
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return 5, ctx.Err()
		}))
	done := make(chan error, 1)
	go func() {
		_, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"})
		done <- err
	}()
	(<-entered).lose()
	if cause := <-causes; cause != locking.ErrLockLost {
		t.Fatalf("handler's context cause = %v, want ErrLockLost", cause)
	}
	if err := <-done; !errors.Is(err, locking.ErrLockLost) {
		t.Fatalf("Send = %v, want ErrLockLost", err)
	}
}
