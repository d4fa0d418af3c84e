package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// These tests make the handoff land between the moment a waiter's timeout
// or context ends and the moment it leaves the queue: the grant must not be
// lost.

func TestTimeoutMeetingHandoffKeepsTheLock(t *testing.T) {
	p := memory.New()
	holder := mustAcquire(t, p, "k")
	memory.OnGivingUp(p, func(string) { release(t, holder) })

	h, err := p.TryAcquire(context.Background(), "k", time.Millisecond)
	if err != nil {
		t.Fatalf("a waiter granted as its timeout ran out got err = %v, want the lock", err)
	}
	if h.Token() <= holder.Token() {
		t.Errorf("token %d, want more than the previous holder's %d", h.Token(), holder.Token())
	}
	if _, err := p.TryAcquire(context.Background(), "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("the key should be held by the waiter; TryAcquire err = %v", err)
	}
	release(t, h)
	if n := p.Len(); n != 0 {
		t.Errorf("Len() = %d, want 0", n)
	}
}

func TestCancelMeetingHandoffPassesTheLockOn(t *testing.T) {
	p := memory.New()
	holder := mustAcquire(t, p, "k")

	queued := make(chan struct{}, 2)
	memory.OnQueued(p, func(string) { queued <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	memory.OnGivingUp(p, func(string) { release(t, holder) })

	cancelled := make(chan error, 1)
	go func() {
		h, err := p.TryAcquire(ctx, "k", time.Minute)
		if h != nil {
			_ = h.Release(context.Background())
		}
		cancelled <- err
	}()
	<-queued
	next := make(chan locking.Handle, 1)
	go func() {
		h, err := p.TryAcquire(context.Background(), "k", time.Minute)
		if err != nil {
			t.Errorf("next waiter: %v", err)
		}
		next <- h
	}()
	<-queued
	cancel() // the first waiter gives up; its hook releases the holder to it

	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: err = %v, want context.Canceled", err)
	}
	h := <-next
	if h == nil {
		t.Fatal("the grant the cancelled waiter received was not passed on")
	}
	release(t, h)
	if n := p.Len(); n != 0 {
		t.Errorf("Len() = %d, want 0", n)
	}
}
