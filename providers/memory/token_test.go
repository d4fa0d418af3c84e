package memory_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/providers/memory"
)

func TestTokensGrowWithEveryGrantOfAKey(t *testing.T) {
	p := memory.New()
	var last uint64
	for i := range 100 {
		h := mustAcquire(t, p, "k")
		if h.Token() <= last {
			t.Fatalf("grant %d: token %d, previous %d: want strictly larger", i, h.Token(), last)
		}
		last = h.Token()
		release(t, h)
	}
}

// Keys share token counters (one per shard), and a key's state is deleted
// each time it is released: its tokens must grow all the same, whatever the
// other keys draw in between.
func TestTokensGrowPerKeyWhileOtherKeysAreGranted(t *testing.T) {
	p := memory.New(memory.WithShards(4))
	last := map[string]uint64{}
	for i := range 1000 {
		key := "k" + strconv.Itoa(i*7%37)
		h := mustAcquire(t, p, key)
		if h.Token() <= last[key] {
			t.Fatalf("grant %d of %q: token %d, previous %d: want strictly larger", i, key, h.Token(), last[key])
		}
		last[key] = h.Token()
		release(t, h)
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len = %d after every key was released, want 0", n)
	}
}

func TestHandoffTokensIncreaseUnderContention(t *testing.T) {
	const goroutines, rounds = 8, 200
	p := memory.New()
	var (
		mu     sync.Mutex
		last   uint64
		grants int
		wg     sync.WaitGroup
	)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				h, err := p.TryAcquire(context.Background(), "k", time.Minute)
				if err != nil {
					t.Errorf("TryAcquire: %v", err)
					return
				}
				// Checked under the lock itself: grants of k are serialized,
				// so each token must exceed the one before it.
				mu.Lock()
				if h.Token() <= last {
					t.Errorf("token %d after %d", h.Token(), last)
				}
				last = h.Token()
				grants++
				mu.Unlock()
				_ = h.Release(context.Background())
			}
		}()
	}
	wg.Wait()
	if grants != goroutines*rounds {
		t.Fatalf("grants = %d, want %d", grants, goroutines*rounds)
	}
}
