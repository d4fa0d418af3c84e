package redis_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bsm/redislock"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// The benchmarks of one run share one local redis-server per top-level
// benchmark, so the baseline (raw redislock) and the provider meet the same
// server in the same conditions.

// BenchmarkUncontended is one acquisition and release of a free lock: raw
// redislock Obtain+Release, the provider's TryAcquire+Release, and a Send
// through the mediator and the locking behavior on the provider.
func BenchmarkUncontended(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	b.Run("redislock", func(b *testing.B) {
		rl := redislock.New(newClient(b, srv.Addr()))
		b.ReportAllocs()
		for b.Loop() {
			l, err := rl.Obtain(ctx, "bench:redislock", 30*time.Second, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("provider", func(b *testing.B) {
		p := newProvider(b, srv.Addr(), nil)
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
		client := newClient(b, srv.Addr())
		m, err := mediator.New(
			mediator.Provide(func() redislocks.UniversalClient { return client }),
			redislocks.WithRedisDistributedLockingFromDI(),
			locking.WithDistributedLocking[withdraw, uint64](),
			mediator.WithHandler[withdraw, uint64](func(context.Context, withdraw) (uint64, error) { return 0, nil }),
		)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close(ctx)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := mediator.Send(ctx, m, withdraw{Account: "bench"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

const (
	contendedWorkers = 8
	contendedHold    = time.Millisecond
)

// locker takes key for worker w and returns its release.
type locker func(ctx context.Context, w int) (release func(), err error)

// BenchmarkContended has 8 workers on one key, each holding the lock 1ms per
// grant; an op is one grant. It reports grants/s, handoffs/s (grants to
// another worker than the previous holder), fairness (fewest grants of a
// worker over most) and the share of the ideal 1/(hold + 1 RTT) reached.
func BenchmarkContended(b *testing.B) {
	srv := redistest.Start(b)
	rtt := medianRTT(b, srv.Addr())
	b.Run("redislock-linear10ms", func(b *testing.B) {
		rl := redislock.New(newClient(b, srv.Addr()))
		runContended(b, rtt, func(ctx context.Context, _ int) (func(), error) {
			l, err := rl.Obtain(ctx, "bench:contended:redislock", 30*time.Second,
				&redislock.Options{RetryStrategy: redislock.LinearBackoff(10 * time.Millisecond)})
			if err != nil {
				return nil, err
			}
			return func() { _ = l.Release(context.Background()) }, nil
		})
	})
	b.Run("provider", func(b *testing.B) {
		p := newProvider(b, srv.Addr(), nil)
		runContended(b, rtt, providerLocker(p, "bench:contended:provider"))
	})
	b.Run("provider-2-processes", func(b *testing.B) {
		// Two providers with their own connections and subscriptions, as
		// two processes would have: workers alternate between them.
		ps := []*redislocks.Provider{newProvider(b, srv.Addr(), nil), newProvider(b, srv.Addr(), nil)}
		lockers := []locker{providerLocker(ps[0], "bench:contended:two"), providerLocker(ps[1], "bench:contended:two")}
		runContended(b, rtt, func(ctx context.Context, w int) (func(), error) { return lockers[w%2](ctx, w) })
	})
}

func providerLocker(p *redislocks.Provider, key string) locker {
	return func(ctx context.Context, _ int) (func(), error) {
		h, err := p.TryAcquire(ctx, key, 30*time.Second)
		if err != nil {
			return nil, err
		}
		return func() { _ = h.Release(context.Background()) }, nil
	}
}

func runContended(b *testing.B, rtt time.Duration, lock locker) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		remaining atomic.Int64
		last      atomic.Int64
		handoffs  atomic.Int64
		held      atomic.Int64 // total ns actually held
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
				t0 := time.Now()
				time.Sleep(contendedHold)
				held.Add(int64(time.Since(t0)))
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
	n := float64(b.N)
	meanHold := time.Duration(held.Load() / int64(b.N))
	ideal := 1 / (meanHold + rtt).Seconds()
	b.ReportMetric(n/elapsed.Seconds(), "grants/s")
	b.ReportMetric(float64(handoffs.Load())/elapsed.Seconds(), "handoffs/s")
	b.ReportMetric(100*float64(handoffs.Load())/elapsed.Seconds()/ideal, "%ideal")
	if hi > 0 {
		b.ReportMetric(float64(lo)/float64(hi), "fairness")
	}
}

// medianRTT is the median PING round trip to addr through go-redis.
func medianRTT(b *testing.B, addr string) time.Duration {
	c := newClient(b, addr)
	ctx := context.Background()
	samples := make([]time.Duration, 0, 1000)
	for range cap(samples) {
		t0 := time.Now()
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(t0))
	}
	slices.Sort(samples)
	return samples[len(samples)/2]
}

// BenchmarkHandoffLatency measures, per op, the time from a holder's release
// to the moment a waiter in another provider (its own connections, as
// another process) has the lock. It reports p50 and p99 in µs.
func BenchmarkHandoffLatency(b *testing.B) {
	srv := redistest.Start(b)
	rdb := newClient(b, srv.Addr())
	b.Run("redislock-linear10ms", func(b *testing.B) {
		holder := redislock.New(newClient(b, srv.Addr()))
		waiter := redislock.New(newClient(b, srv.Addr()))
		measureHandoff(b,
			func(ctx context.Context) (func(), error) {
				l, err := holder.Obtain(ctx, "bench:handoff:rl", 30*time.Second, nil)
				if err != nil {
					return nil, err
				}
				return func() { _ = l.Release(context.Background()) }, nil
			},
			func(ctx context.Context) (func(), error) {
				l, err := waiter.Obtain(ctx, "bench:handoff:rl", 30*time.Second,
					&redislock.Options{RetryStrategy: redislock.LinearBackoff(10 * time.Millisecond)})
				if err != nil {
					return nil, err
				}
				return func() { _ = l.Release(context.Background()) }, nil
			},
			// redislock's waiter cannot be observed: give it time to fail its
			// first attempt and settle into its polling.
			func() { time.Sleep(15 * time.Millisecond) })
	})
	b.Run("provider", func(b *testing.B) {
		holder := newProvider(b, srv.Addr(), nil)
		waiter := newProvider(b, srv.Addr(), nil)
		_, fence := holder.StorageKeys("bench:handoff")
		channel := fence[:len(fence)-len(":fence")] + ":released"
		measureHandoff(b,
			func(ctx context.Context) (func(), error) {
				h, err := holder.TryAcquire(ctx, "bench:handoff", 0)
				if err != nil {
					return nil, err
				}
				return func() { _ = h.Release(context.Background()) }, nil
			},
			func(ctx context.Context) (func(), error) {
				h, err := waiter.TryAcquire(ctx, "bench:handoff", 30*time.Second)
				if err != nil {
					return nil, err
				}
				return func() { _ = h.Release(context.Background()) }, nil
			},
			// The waiter is asleep once Redis counts its subscription.
			func() {
				for {
					n, _ := rdb.PubSubNumSub(context.Background(), channel).Result()
					if n[channel] > 0 {
						return
					}
					time.Sleep(100 * time.Microsecond)
				}
			})
	})
}

func measureHandoff(b *testing.B, hold, wait func(context.Context) (func(), error), waiting func()) {
	ctx := context.Background()
	samples := make([]time.Duration, 0, b.N)
	for b.Loop() {
		b.StopTimer()
		release, err := hold(ctx)
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan time.Time, 1)
		var releaseWaiter func()
		go func() {
			r, err := wait(ctx)
			if err != nil {
				b.Error(err)
				close(got)
				return
			}
			got <- time.Now()
			releaseWaiter = r
		}()
		waiting()
		b.StartTimer()
		t0 := time.Now()
		release()
		t1, ok := <-got
		b.StopTimer()
		if !ok {
			return
		}
		samples = append(samples, t1.Sub(t0))
		releaseWaiter()
		b.StartTimer()
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(samples[len(samples)*99/100].Microseconds()), "p99-µs")
}
