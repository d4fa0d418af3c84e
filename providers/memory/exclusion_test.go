package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// holders counts goroutines inside a critical section and records the
// largest count seen.
type holders struct{ now, max atomic.Int32 }

func (c *holders) enter() {
	n := c.now.Add(1)
	for {
		m := c.max.Load()
		if n <= m || c.max.CompareAndSwap(m, n) {
			return
		}
	}
}

func (c *holders) leave() { c.now.Add(-1) }

func TestOneHolderAtATimeUnderContention(t *testing.T) {
	const goroutines, rounds = 50, 40
	p := memory.New()
	var (
		in      holders
		counter int // read-modify-written under the lock only
		wg      sync.WaitGroup
	)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				h, err := p.TryAcquire(context.Background(), "account:1", time.Minute)
				if err != nil {
					t.Errorf("TryAcquire: %v", err)
					return
				}
				in.enter()
				v := counter
				if v%7 == 0 {
					time.Sleep(time.Microsecond) // widen the window a second holder would use
				}
				counter = v + 1
				in.leave()
				_ = h.Release(context.Background())
			}
		}()
	}
	wg.Wait()
	if m := in.max.Load(); m != 1 {
		t.Fatalf("saw %d concurrent holders, want 1", m)
	}
	if counter != goroutines*rounds {
		t.Fatalf("counter = %d, want %d: an update was lost", counter, goroutines*rounds)
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len() = %d, want 0", n)
	}
}

func TestDifferentKeysAreHeldAtTheSameTime(t *testing.T) {
	const keys = 50
	p := memory.New()
	// Every goroutine takes its own key, then waits until all hold theirs:
	// this only finishes if the keys are held together.
	var all sync.WaitGroup
	all.Add(keys)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := p.TryAcquire(context.Background(), fmt.Sprint("account:", i), 0)
			if err != nil {
				t.Errorf("key %d: %v", i, err)
				all.Done()
				return
			}
			all.Done()
			all.Wait()
			_ = h.Release(context.Background())
		}()
	}
	wg.Wait()
	if n := p.Len(); n != 0 {
		t.Fatalf("Len() = %d, want 0", n)
	}
}

// TestGiveUpRacingHandoffNeverLosesAGrant makes waiters time out or be
// cancelled at the moment the lock is handed to them. Each outcome must be
// clean: a handle the caller releases, or an error and nothing held. A lost
// grant would leave the key held forever, so the final Len() would not be 0
// and the last TryAcquire would fail.
func TestGiveUpRacingHandoffNeverLosesAGrant(t *testing.T) {
	const goroutines, rounds = 8, 300
	for _, shards := range []int{1, 64} {
		p := memory.New(memory.WithShards(shards))
		var (
			in       holders
			wg       sync.WaitGroup
			granted  atomic.Int64
			gaveUp   atomic.Int64
			badError atomic.Int64
		)
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					ctx, cancel := context.Background(), context.CancelFunc(func() {})
					timeout := time.Duration(r%5) * 20 * time.Microsecond
					if g%2 == 0 {
						// The context ends, not the timeout, at about the
						// time a handoff may come.
						ctx, cancel = context.WithTimeout(ctx, timeout)
						timeout = time.Minute
					}
					h, err := p.TryAcquire(ctx, "hot", timeout)
					switch {
					case err == nil:
						granted.Add(1)
						in.enter()
						in.leave()
						_ = h.Release(context.Background())
					case errors.Is(err, locking.ErrNotAcquired) || errors.Is(err, context.DeadlineExceeded):
						gaveUp.Add(1)
					default:
						badError.Add(1)
					}
					cancel()
				}
			}()
		}
		wg.Wait()
		if n := badError.Load(); n != 0 {
			t.Errorf("shards=%d: %d unexpected errors", shards, n)
		}
		if m := in.max.Load(); m > 1 {
			t.Errorf("shards=%d: %d concurrent holders", shards, m)
		}
		if n := p.Len(); n != 0 {
			t.Errorf("shards=%d: Len() = %d after all callers finished, want 0 (a grant was lost)", shards, n)
		}
		if n := p.Waiters("hot"); n != 0 {
			t.Errorf("shards=%d: Waiters = %d, want 0", shards, n)
		}
		t.Logf("shards=%d: %d granted, %d gave up", shards, granted.Load(), gaveUp.Load())
	}
}
