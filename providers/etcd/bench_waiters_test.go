package etcd_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/providers/etcd"
)

// BenchmarkManyWaiters queues 2,000 callers on one key behind a holder,
// then releases it: each caller takes the lock in turn and releases it at
// once. An op is the whole queue drained; it reports handoffs/s. The
// callers share one provider, or are spread over 8 (as 8 processes would).
func BenchmarkManyWaiters(b *testing.B) {
	c := startOne(b)
	ep := c.Members[0].Endpoint()
	for _, bc := range []struct {
		name      string
		providers int
	}{{"shared", 1}, {"8-providers", 8}} {
		b.Run(bc.name, func(b *testing.B) {
			ps := make([]*etcd.Provider, bc.providers)
			for i := range ps {
				ps[i] = newProvider(b, nil, ep)
			}
			drainWaiters(b, ps, manyWaiters())
		})
	}
}

// manyWaiters is 2,000 unless ETCD_BENCH_WAITERS says otherwise.
func manyWaiters() int {
	if n, err := strconv.Atoi(os.Getenv("ETCD_BENCH_WAITERS")); err == nil && n > 0 {
		return n
	}
	return 2000
}

func drainWaiters(b *testing.B, ps []*etcd.Provider, waiters int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var handoffs int
	var elapsed time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		holder, err := ps[0].TryAcquire(ctx, "many", 0)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range waiters {
			wg.Go(func() {
				h, err := ps[i%len(ps)].TryAcquire(ctx, "many", 10*time.Minute)
				if err != nil {
					b.Error(err)
					return
				}
				_ = h.Release(context.Background())
			})
		}
		for {
			n := 0
			for _, p := range ps {
				n += p.Waiters("many")
			}
			if n == waiters {
				break
			}
			b.Logf("%d waiters queued", n)
			time.Sleep(10 * time.Millisecond)
		}
		b.StartTimer()
		start := time.Now()
		if err := holder.Release(ctx); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		elapsed += time.Since(start)
		handoffs += waiters
	}
	b.ReportMetric(float64(handoffs)/elapsed.Seconds(), "handoffs/s")
}
