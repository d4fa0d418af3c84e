package memory_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// BenchmarkMemoryUncontended is one TryAcquire+Release of a free key: the
// provider's share of every locked Send.
func BenchmarkMemoryUncontended(b *testing.B) {
	p := memory.New()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h, err := p.TryAcquire(ctx, "account:42", time.Second)
		if err != nil {
			b.Fatal(err)
		}
		_ = h.Release(ctx)
	}
}

// BenchmarkMutexUncontended is the baseline for BenchmarkMemoryUncontended:
// a plain sync.Mutex locked and unlocked.
func BenchmarkMutexUncontended(b *testing.B) {
	var mu sync.Mutex
	b.ReportAllocs()
	for b.Loop() {
		mu.Lock()
		//lint:ignore SA2001 the baseline measures locking alone, like BenchmarkMemoryUncontended
		mu.Unlock()
	}
}

// BenchmarkMemoryParallelDistinctKeys has every goroutine lock its own keys,
// so they contend only on the provider's key map: it shows what sharding
// that map buys, with one goroutine per CPU and with eight (where a
// goroutine descheduled while it holds a map mutex stalls the others).
func BenchmarkMemoryParallelDistinctKeys(b *testing.B) {
	for _, perCPU := range []int{1, 8} {
		for _, shards := range []int{1, memory.DefaultShards} {
			name := "goroutines=" + strconv.Itoa(perCPU) + "xGOMAXPROCS/shards=" + strconv.Itoa(shards)
			b.Run(name, func(b *testing.B) {
				p := memory.New(memory.WithShards(shards))
				ctx := context.Background()
				var next atomic.Int64
				b.ReportAllocs()
				b.SetParallelism(perCPU)
				b.RunParallel(func(pb *testing.PB) {
					g := strconv.FormatInt(next.Add(1), 10)
					keys := make([]string, 256)
					for i := range keys {
						keys[i] = "g" + g + ":account:" + strconv.Itoa(i)
					}
					i := 0
					for pb.Next() {
						h, err := p.TryAcquire(ctx, keys[i%len(keys)], time.Second)
						if err != nil {
							b.Error(err)
							return
						}
						_ = h.Release(ctx)
						i++
					}
				})
			})
		}
	}
}

// contenders is how many goroutines fight for one key in BenchmarkMemoryContended.
const contenders = 8

// BenchmarkMemoryContended runs 8 goroutines that take one key in turn until
// b.N grants have been made, against a sync.Mutex doing the same. It reports
// handoffs/s and fairness, the fewest grants any goroutine got divided by the
// most: FIFO handoff keeps it near 1, a mutex that lets a running goroutine
// barge in may starve the others.
func BenchmarkMemoryContended(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		p := memory.New()
		runContended(b, func() contender { return &providerContender{p: p, key: "hot"} })
	})
	b.Run("mutex", func(b *testing.B) {
		var mu sync.Mutex
		runContended(b, func() contender { return mutexContender{&mu} })
	})
}

// contender is one goroutine's way to take and give back the contended lock.
type contender interface {
	lock() bool
	unlock()
}

type providerContender struct {
	p   *memory.Provider
	key string
	h   locking.Handle
}

func (c *providerContender) lock() bool {
	h, err := c.p.TryAcquire(context.Background(), c.key, time.Minute)
	c.h = h
	return err == nil
}

func (c *providerContender) unlock() { _ = c.h.Release(context.Background()) }

type mutexContender struct{ mu *sync.Mutex }

func (c mutexContender) lock() bool { c.mu.Lock(); return true }
func (c mutexContender) unlock()    { c.mu.Unlock() }

// runContended makes b.N grants among the contenders.
func runContended(b *testing.B, newContender func() contender) {
	var (
		granted int // guarded by the lock under test
		counts  [contenders]int
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for g := range contenders {
		c := newContender()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start // nobody gets a head start while the others are being created
			for {
				if !c.lock() {
					b.Error("lock failed")
					return
				}
				if granted >= b.N {
					c.unlock()
					return
				}
				granted++
				counts[g]++
				c.unlock()
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	close(start)
	wg.Wait()
	b.StopTimer()
	lo, hi := counts[0], counts[0]
	for _, c := range counts[1:] {
		lo, hi = min(lo, c), max(hi, c)
	}
	if hi > 0 {
		b.ReportMetric(float64(lo)/float64(hi), "fairness")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handoffs/s")
}
