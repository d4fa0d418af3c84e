package memory_test

import (
	"context"
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

func TestTokensComeFromOneCounterAcrossKeys(t *testing.T) {
	p := memory.New()
	a := mustAcquire(t, p, "a")
	b := mustAcquire(t, p, "b")
	release(t, a)
	a2 := mustAcquire(t, p, "a")
	if !(a.Token() < b.Token() && b.Token() < a2.Token()) {
		t.Fatalf("tokens a=%d b=%d a2=%d, want strictly increasing in grant order", a.Token(), b.Token(), a2.Token())
	}
	release(t, b)
	release(t, a2)
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
