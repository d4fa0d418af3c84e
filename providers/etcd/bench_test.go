package etcd_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/etcd"
)

// The benchmarks of one run share one local etcd member (data on /dev/shm
// when there is one) per top-level benchmark, so the baseline (raw
// concurrency.Mutex) and the provider meet the same server in the same
// conditions.

// BenchmarkUncontended is one acquisition and release of a free lock: raw
// concurrency.Mutex Lock+Unlock on a session opened once, the provider's
// TryAcquire+Release, and a Send through the mediator and the locking
// behavior on the provider.
func BenchmarkUncontended(b *testing.B) {
	c := startOne(b)
	ep := c.Members[0].Endpoint()
	ctx := context.Background()
	b.Run("mutex", func(b *testing.B) {
		sess, err := concurrency.NewSession(newClient(b, ep), concurrency.WithTTL(15))
		if err != nil {
			b.Fatal(err)
		}
		defer sess.Close()
		m := concurrency.NewMutex(sess, "bench/mutex")
		b.ReportAllocs()
		for b.Loop() {
			if err := m.Lock(ctx); err != nil {
				b.Fatal(err)
			}
			if err := m.Unlock(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("provider", func(b *testing.B) {
		p := newProvider(b, nil, ep)
		b.ReportAllocs()
		for b.Loop() {
			h, err := p.TryAcquire(ctx, "bench:provider", 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := h.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("send", func(b *testing.B) {
		m, err := mediator.New(
			etcd.WithEtcdDistributedLocking(ep),
			locking.WithDistributedLocking[withdraw, uint64](),
			mediator.WithHandler[withdraw, uint64](tokenHandler),
		)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close(ctx)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := mediator.Send(ctx, m, withdraw{Account: "42"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

const (
	contendedWorkers = 8
	contendedHold    = time.Millisecond
)

// locker takes the lock for worker w and returns its release.
type locker func(ctx context.Context, w int) (release func(), err error)

// BenchmarkContended has 8 workers on one key, each holding the lock 1ms per
// grant; an op is one grant. It reports grants/s, handoffs/s (grants to
// another worker than the previous holder) and fairness (fewest grants of a
// worker over most). The baseline gives each worker a concurrency.Mutex on a
// session of its own (a Mutex cannot be shared by goroutines); the provider
// runs once shared by the 8 workers and once with a provider per worker
// (as 8 processes would).
func BenchmarkContended(b *testing.B) {
	c := startOne(b)
	ep := c.Members[0].Endpoint()
	b.Run("mutex", func(b *testing.B) {
		var ms [contendedWorkers]*concurrency.Mutex
		for w := range ms {
			sess, err := concurrency.NewSession(newClient(b, ep), concurrency.WithTTL(15))
			if err != nil {
				b.Fatal(err)
			}
			defer sess.Close()
			ms[w] = concurrency.NewMutex(sess, "bench/contended/mutex")
		}
		runContended(b, func(ctx context.Context, w int) (func(), error) {
			if err := ms[w].Lock(ctx); err != nil {
				return nil, err
			}
			return func() { _ = ms[w].Unlock(context.Background()) }, nil
		})
	})
	b.Run("provider-shared", func(b *testing.B) {
		p := newProvider(b, nil, ep)
		runContended(b, func(ctx context.Context, _ int) (func(), error) {
			return acquireFor(ctx, p, "bench:contended:shared")
		})
	})
	b.Run("provider-per-worker", func(b *testing.B) {
		var ps [contendedWorkers]*etcd.Provider
		for w := range ps {
			ps[w] = newProvider(b, nil, ep)
		}
		runContended(b, func(ctx context.Context, w int) (func(), error) {
			return acquireFor(ctx, ps[w], "bench:contended:per-worker")
		})
	})
}

func acquireFor(ctx context.Context, p *etcd.Provider, key string) (func(), error) {
	h, err := p.TryAcquire(ctx, key, time.Minute)
	if err != nil {
		return nil, err
	}
	return func() { _ = h.Release(context.Background()) }, nil
}

func runContended(b *testing.B, lock locker) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		remaining atomic.Int64
		last      atomic.Int64
		handoffs  atomic.Int64
		grants    [contendedWorkers]atomic.Int64
		wg        sync.WaitGroup
	)
	remaining.Store(int64(b.N))
	last.Store(-1)
	b.ResetTimer()
	begin := time.Now()
	for w := range contendedWorkers {
		wg.Go(func() {
			for remaining.Add(-1) >= 0 {
				release, err := lock(ctx, w)
				if err != nil {
					b.Error(err)
					return
				}
				if last.Swap(int64(w)) != int64(w) {
					handoffs.Add(1)
				}
				grants[w].Add(1)
				time.Sleep(contendedHold) // the work under the lock
				release()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	b.StopTimer()
	lo, hi := grants[0].Load(), grants[0].Load()
	for i := range grants {
		lo, hi = min(lo, grants[i].Load()), max(hi, grants[i].Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "grants/s")
	b.ReportMetric(float64(handoffs.Load())/elapsed.Seconds(), "handoffs/s")
	if hi > 0 {
		b.ReportMetric(float64(lo)/float64(hi), "fairness")
	}
}
