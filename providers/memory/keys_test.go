package memory_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// lockDistinctKeys locks and releases n distinct keys, holding them in
// batches so the key map really grows to batch entries at a time, and checks
// the provider forgets every one.
func lockDistinctKeys(t *testing.T, n int) {
	const batch = 10_000
	p := memory.New()
	ctx := context.Background()
	before := heapInUse()
	held := make([]interface{ Release(context.Context) error }, 0, batch)
	for i := 0; i < n; i += batch {
		for j := i; j < i+batch && j < n; j++ {
			h, err := p.TryAcquire(ctx, "key:"+strconv.Itoa(j), 0)
			if err != nil {
				t.Fatalf("key %d: %v", j, err)
			}
			held = append(held, h)
		}
		if got, want := p.Len(), len(held); got != want {
			t.Fatalf("Len() = %d while %d keys are held", got, want)
		}
		for _, h := range held {
			_ = h.Release(ctx)
		}
		held = held[:0]
	}
	if got := p.Len(); got != 0 {
		t.Fatalf("Len() = %d after releasing %d keys, want 0", got, n)
	}
	// Nothing left behind: not even the grown tables. 10k entries cost about
	// a megabyte; allow a quarter of that for everything else, beside what
	// the shards keep when idle (a fixed cost of the provider, whatever the
	// number of keys: 1024 shards × 2 key states of 152 bytes, and tables
	// of at most 16 slots of 16 bytes, 560 KB).
	held = nil
	limit := 256<<10 + memory.IdleBytes(p)
	if grown := heapInUse() - before; grown > limit {
		t.Errorf("heap grew by %d bytes after all keys were released, want at most %d", grown, limit)
	}
	runtime.KeepAlive(p)
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func TestTimeoutsAndCancellationsLeaveNoState(t *testing.T) {
	p := memory.New()
	for i := range 200 {
		key := "k" + strconv.Itoa(i%10)
		h := mustAcquire(t, p, key)
		// a waiter that times out
		if _, err := p.TryAcquire(context.Background(), key, time.Microsecond); err == nil {
			t.Fatal("a held key was granted")
		}
		// a waiter whose context ends
		ctx, cancel := context.WithTimeout(context.Background(), time.Microsecond)
		if _, err := p.TryAcquire(ctx, key, time.Minute); err == nil {
			t.Fatal("a held key was granted")
		}
		cancel()
		if n := p.Waiters(key); n != 0 {
			t.Fatalf("Waiters(%s) = %d, want 0", key, n)
		}
		release(t, h)
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len() = %d, want 0", n)
	}
}

func TestMillionDistinctKeysLeaveNothingBehind(t *testing.T) {
	lockDistinctKeys(t, 1_000_000)
}
