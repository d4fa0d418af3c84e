package etcd_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/turbomediator/turbomediator-go/providers/etcd"
)

// contendedRound is how many grants one round of
// BenchmarkContendedInterleaved hands out per variant.
const contendedRound = 96

// BenchmarkContendedInterleaved is BenchmarkContended with the variants
// taking turns: each iteration runs a round of 96 grants (8 workers on one
// key, 1 ms hold) with raw concurrency.Mutex (a session per worker), then
// with one provider shared by the workers, then with a provider per worker,
// so that all three meet the same load on a shared machine. It reports each
// variant's median handoffs/s over the rounds, the medians' ratios to the
// Mutex's, and each variant's fairness (fewest grants of a worker over
// most, over all its rounds).
func BenchmarkContendedInterleaved(b *testing.B) {
	c := startOne(b)
	ep := c.Members[0].Endpoint()
	var ms [contendedWorkers]*concurrency.Mutex
	for w := range ms {
		sess, err := concurrency.NewSession(newClient(b, ep), concurrency.WithTTL(15))
		if err != nil {
			b.Fatal(err)
		}
		defer sess.Close()
		ms[w] = concurrency.NewMutex(sess, "bench/contended-interleaved/mutex")
	}
	shared := newProvider(b, nil, ep)
	var per [contendedWorkers]*etcd.Provider
	for w := range per {
		per[w] = newProvider(b, nil, ep)
	}
	variants := []struct {
		name string
		lock locker
	}{
		{"mutex", func(ctx context.Context, w int) (func(), error) {
			if err := ms[w].Lock(ctx); err != nil {
				return nil, err
			}
			return func() { _ = ms[w].Unlock(context.Background()) }, nil
		}},
		{"shared", func(ctx context.Context, _ int) (func(), error) {
			return acquireFor(ctx, shared, "bench:contended-interleaved:shared")
		}},
		{"per-worker", func(ctx context.Context, w int) (func(), error) {
			return acquireFor(ctx, per[w], "bench:contended-interleaved:per-worker")
		}},
	}
	rates := make([][]time.Duration, len(variants)) // per round: time per handoff
	grants := make([][contendedWorkers]int64, len(variants))
	b.ResetTimer()
	for b.Loop() {
		for i, v := range variants {
			handoffs, elapsed, perWorker := contendedRoundOf(b, v.lock)
			if handoffs > 0 {
				rates[i] = append(rates[i], elapsed/time.Duration(handoffs))
			}
			for w := range perWorker {
				grants[i][w] += perWorker[w]
			}
		}
	}
	b.StopTimer()
	perSecond := func(d time.Duration) float64 { return float64(time.Second) / float64(d) }
	mutexRate := perSecond(median(rates[0]))
	for i, v := range variants {
		rate := perSecond(median(rates[i]))
		b.ReportMetric(rate, v.name+"-handoffs/s")
		if i > 0 {
			b.ReportMetric(rate/mutexRate, v.name+"/mutex")
		}
		lo, hi := grants[i][0], grants[i][0]
		for _, g := range grants[i] {
			lo, hi = min(lo, g), max(hi, g)
		}
		if hi > 0 {
			b.ReportMetric(float64(lo)/float64(hi), v.name+"-fairness")
		}
	}
}

// contendedRoundOf runs 8 workers on lock until contendedRound grants were
// handed out, and returns the handoffs (grants to another worker than the
// previous holder), the time taken and each worker's grants.
func contendedRoundOf(b *testing.B, lock locker) (handoffs int64, elapsed time.Duration, perWorker [contendedWorkers]int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		remaining atomic.Int64
		last      atomic.Int64
		handed    atomic.Int64
		granted   [contendedWorkers]atomic.Int64
		wg        sync.WaitGroup
	)
	remaining.Store(contendedRound)
	last.Store(-1)
	start := time.Now()
	for w := range contendedWorkers {
		wg.Go(func() {
			for remaining.Add(-1) >= 0 {
				release, err := lock(ctx, w)
				if err != nil {
					b.Error(err)
					return
				}
				if last.Swap(int64(w)) != int64(w) {
					handed.Add(1)
				}
				granted[w].Add(1)
				time.Sleep(contendedHold) // the work under the lock
				release()
			}
		})
	}
	wg.Wait()
	for w := range perWorker {
		perWorker[w] = granted[w].Load()
	}
	return handed.Load(), time.Since(start), perWorker
}
