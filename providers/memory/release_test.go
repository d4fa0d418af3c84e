package memory_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

func TestReleaseIsIdempotent(t *testing.T) {
	p := memory.New()
	h := mustAcquire(t, p, "k")
	release(t, h)
	release(t, h)
	if n := p.Len(); n != 0 {
		t.Fatalf("Len() = %d, want 0", n)
	}
}

func TestReleaseFromManyGoroutinesFreesOnce(t *testing.T) {
	p := memory.New()
	for range 50 {
		h := mustAcquire(t, p, "k")
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := h.Release(context.Background()); err != nil {
					t.Errorf("Release: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := p.Len(); n != 0 {
			t.Fatalf("Len() = %d after concurrent releases, want 0", n)
		}
	}
}

func TestStaleHandleDoesNotFreeTheNextHolder(t *testing.T) {
	p := memory.New()
	first := mustAcquire(t, p, "k")
	release(t, first)
	second := mustAcquire(t, p, "k")
	release(t, first) // stale: must not touch second's grant
	if _, err := p.TryAcquire(context.Background(), "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("after a stale Release the key is free (err = %v); it belongs to the second holder", err)
	}
	release(t, second)
}

func TestReleaseIgnoresItsContext(t *testing.T) {
	p := memory.New()
	h := mustAcquire(t, p, "k")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Release(ctx); err != nil {
		t.Fatalf("Release with a done ctx: %v", err)
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len() = %d, want 0: the lock must be freed anyway", n)
	}
}

func TestWithShardsRoundsToAUsableCount(t *testing.T) {
	for _, n := range []int{-3, 0, 1, 3, 64, 100} {
		p := memory.New(memory.WithShards(n))
		h := mustAcquire(t, p, "k")
		if _, err := p.TryAcquire(context.Background(), "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
			t.Errorf("WithShards(%d): a held key was granted again (err = %v)", n, err)
		}
		release(t, h)
	}
	if got := memory.WithShards(8).String(); got != "memory.WithShards(8)" {
		t.Errorf("String() = %q", got)
	}
}
