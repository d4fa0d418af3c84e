package memory_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/providers/memory"
)

func TestWaitersAreGrantedInArrivalOrder(t *testing.T) {
	const waiters = 20
	p := memory.New()
	holder := mustAcquire(t, p, "k")

	queued := make(chan struct{})
	memory.OnQueued(p, func(string) { queued <- struct{}{} })

	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	for i := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := p.TryAcquire(context.Background(), "k", time.Minute)
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			// Appended while holding the lock, so order is grant order.
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			_ = h.Release(context.Background())
		}()
		<-queued // waiter i is in the queue before waiter i+1 starts
	}
	if n := p.Waiters("k"); n != waiters {
		t.Fatalf("Waiters = %d, want %d", n, waiters)
	}
	release(t, holder)
	wg.Wait()

	if len(order) != waiters {
		t.Fatalf("%d waiters granted, want %d", len(order), waiters)
	}
	for i, got := range order {
		if got != i {
			t.Fatalf("grant order = %v, want 0..%d in order", order, waiters-1)
		}
	}
	if n := p.Len(); n != 0 {
		t.Errorf("Len() = %d, want 0", n)
	}
}

func TestNewcomerDoesNotOvertakeQueuedWaiter(t *testing.T) {
	p := memory.New()
	holder := mustAcquire(t, p, "k")
	queued := make(chan struct{}, 1)
	memory.OnQueued(p, func(string) { queued <- struct{}{} })

	granted := make(chan struct{})
	proceed := make(chan struct{})
	go func() {
		h, err := p.TryAcquire(context.Background(), "k", time.Minute)
		if err != nil {
			t.Errorf("waiter: %v", err)
			close(granted)
			return
		}
		close(granted)
		<-proceed
		_ = h.Release(context.Background())
	}()
	<-queued
	release(t, holder)
	// The lock went straight to the waiter, so a newcomer finds it taken
	// even if the waiter's goroutine has not run yet.
	if h, err := p.TryAcquire(context.Background(), "k", 0); err == nil {
		_ = h.Release(context.Background())
		t.Fatal("a newcomer took the lock ahead of the queued waiter")
	}
	<-granted
	close(proceed)
}

func TestWaitingStartsNoGoroutineBeyondTheCallers(t *testing.T) {
	const waiters = 10
	p := memory.New()
	holder := mustAcquire(t, p, "k")
	queued := make(chan struct{})
	memory.OnQueued(p, func(string) { queued <- struct{}{} })

	var wg sync.WaitGroup
	for range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if h, err := p.TryAcquire(context.Background(), "k", time.Minute); err == nil {
				_ = h.Release(context.Background())
			}
		}()
		<-queued
	}
	// Every goroutine's stack: the waiters must be the callers' own
	// goroutines, parked in wait, and none may have been started by the
	// provider.
	buf := make([]byte, 1<<20)
	stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
	inWait := 0
	for _, s := range stacks {
		if strings.Contains(s, "providers/memory.(*Provider).wait(") {
			inWait++
		}
		if strings.Contains(s, "created by github.com/turbomediator/turbomediator-go/providers/memory.") {
			t.Errorf("the provider started a goroutine:\n%s", s)
		}
	}
	if inWait != waiters {
		t.Errorf("%d goroutines wait in the provider, want the %d callers", inWait, waiters)
	}
	release(t, holder)
	wg.Wait()
}
