package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/grant"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

var _ locking.Provider = (*memory.Provider)(nil)

func mustAcquire(t *testing.T, p *memory.Provider, key string) locking.Handle {
	t.Helper()
	h, err := p.TryAcquire(context.Background(), key, 0)
	if err != nil {
		t.Fatalf("TryAcquire(%q): %v", key, err)
	}
	return h
}

func release(t *testing.T, h locking.Handle) {
	t.Helper()
	if err := h.Release(context.Background()); err != nil {
		t.Fatalf("Release(%q): %v", h.Key(), err)
	}
}

func TestFreeKeyIsGrantedWithItsKeyAndNoLostChannel(t *testing.T) {
	p := memory.New()
	h := mustAcquire(t, p, "account:42")
	if h.Key() != "account:42" {
		t.Errorf("Key() = %q, want %q", h.Key(), "account:42")
	}
	if h.Lost() != nil {
		t.Error("Lost() is not nil: an in-process lock cannot be lost")
	}
	if h.Token() == 0 {
		t.Error("Token() = 0, want a positive fencing token")
	}
	if n := p.Len(); n != 1 {
		t.Errorf("Len() while held = %d, want 1", n)
	}
	release(t, h)
	if n := p.Len(); n != 0 {
		t.Errorf("Len() after release = %d, want 0", n)
	}
}

func TestZeroValueProviderWorks(t *testing.T) {
	var p memory.Provider
	h := mustAcquire(t, &p, "k")
	if _, err := p.TryAcquire(context.Background(), "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("second TryAcquire on a held key: err = %v, want ErrNotAcquired", err)
	}
	release(t, h)
	if n := p.Len(); n != 0 {
		t.Errorf("Len() = %d, want 0", n)
	}
}

func TestHeldKeyDoesNotBlockOtherKeys(t *testing.T) {
	for _, shards := range []int{1, 64} {
		p := memory.New(memory.WithShards(shards))
		a := mustAcquire(t, p, "a")
		b := mustAcquire(t, p, "b")
		if n := p.Len(); n != 2 {
			t.Errorf("shards=%d: Len() = %d, want 2", shards, n)
		}
		release(t, a)
		release(t, b)
	}
}

func TestWaiterGetsLockWhenHolderReleases(t *testing.T) {
	p := memory.New()
	h := mustAcquire(t, p, "k")
	queued := make(chan struct{})
	memory.OnQueued(p, func(string) { close(queued) })
	got := make(chan error, 1)
	go func() {
		h2, err := p.TryAcquire(context.Background(), "k", time.Minute)
		if err == nil {
			err = h2.Release(context.Background())
		}
		got <- err
	}()
	<-queued
	if n := p.Waiters("k"); n != 1 {
		t.Errorf("Waiters(k) = %d, want 1", n)
	}
	release(t, h)
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	if n := p.Len(); n != 0 {
		t.Errorf("Len() = %d, want 0", n)
	}
}

// TryAcquireGrant is the locking behavior's fast path; called with no grant
// to fill it refuses, holds nothing and does not panic.
func TestTryAcquireGrantRefusesANilGrant(t *testing.T) {
	p := memory.New()
	if err := p.TryAcquireGrant(context.Background(), "k", 0, nil, grant.Identity{}); err == nil {
		t.Fatal("TryAcquireGrant with a nil grant returned no error")
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
}
