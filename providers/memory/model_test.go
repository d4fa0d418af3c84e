package memory_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// TestMatchesASimpleModel drives the provider with random tries and releases
// (stale ones included) over a few keys and checks every answer against a
// map of who holds what.
func TestMatchesASimpleModel(t *testing.T) {
	for _, shards := range []int{1, 4, 64} {
		rng := rand.New(rand.NewPCG(uint64(shards), 7))
		p := memory.New(memory.WithShards(shards))
		ctx := context.Background()
		holder := map[string]locking.Handle{} // the model: current handle per key
		var handles []locking.Handle          // every handle ever granted
		lastToken := map[string]uint64{}      // per key: tokens grow with every grant of a key
		for step := range 20_000 {
			key := "k" + strconv.Itoa(rng.IntN(8))
			if rng.IntN(2) == 0 || len(handles) == 0 {
				h, err := p.TryAcquire(ctx, key, 0)
				if _, held := holder[key]; held {
					if !errors.Is(err, locking.ErrNotAcquired) {
						t.Fatalf("shards=%d step %d: TryAcquire(%s) on a held key: %v, %v", shards, step, key, h, err)
					}
				} else {
					if err != nil {
						t.Fatalf("shards=%d step %d: TryAcquire(%s) on a free key: %v", shards, step, key, err)
					}
					if h.Token() <= lastToken[key] {
						t.Fatalf("shards=%d step %d: %s: token %d after %d", shards, step, key, h.Token(), lastToken[key])
					}
					lastToken[key] = h.Token()
					holder[key] = h
					handles = append(handles, h)
				}
			} else {
				h := handles[rng.IntN(len(handles))]
				_ = h.Release(ctx)
				if holder[h.Key()] == h {
					delete(holder, h.Key())
				}
			}
			if got := p.Len(); got != len(holder) {
				t.Fatalf("shards=%d step %d: Len() = %d, model holds %d keys", shards, step, got, len(holder))
			}
		}
		for _, h := range holder {
			_ = h.Release(ctx)
		}
		if got := p.Len(); got != 0 {
			t.Fatalf("shards=%d: Len() = %d after releasing everything", shards, got)
		}
	}
}
