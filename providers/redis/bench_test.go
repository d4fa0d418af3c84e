package redis_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bsm/redislock"
	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
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

// BenchmarkUncontendedInterleaved runs the three operations of
// BenchmarkUncontended in turn within each op (rotating which goes first),
// so that all three meet the same moment's load on a shared machine, and
// reports the median latency of each and the ratios of those medians to
// redislock's. An op is one of each.
func BenchmarkUncontendedInterleaved(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	rl := redislock.New(newClient(b, srv.Addr()))
	p := newProvider(b, srv.Addr(), nil)
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
	ops := [3]func(){
		func() {
			l, err := rl.Obtain(ctx, "bench:i:redislock", 30*time.Second, nil)
			if err != nil {
				b.Fatal(err)
			}
			_ = l.Release(ctx)
		},
		func() {
			h, err := p.TryAcquire(ctx, "bench:i:provider", 0)
			if err != nil {
				b.Fatal(err)
			}
			_ = h.Release(ctx)
		},
		func() {
			if _, err := mediator.Send(ctx, m, withdraw{Account: "bench"}); err != nil {
				b.Fatal(err)
			}
		},
	}
	med := redistesting.Interleave(b, ops[:])
	b.ReportMetric(med[0], "redislock-µs")
	b.ReportMetric(med[1], "provider-µs")
	b.ReportMetric(med[2], "send-µs")
	b.ReportMetric(med[1]/med[0], "provider/redislock")
	b.ReportMetric(med[2]/med[0], "send/redislock")
}

const (
	contendedWorkers = redistesting.ContendedWorkers
	contendedHold    = redistesting.ContendedHold
)

// BenchmarkContended has 8 workers on one key, each holding the lock 1ms per
// grant; an op is one grant. It reports grants/s, handoffs/s (grants to
// another worker than the previous holder), fairness (fewest grants of a
// worker over most) and the share of the ideal 1/(hold + 1 RTT) reached.
func BenchmarkContended(b *testing.B) {
	srv := redistest.Start(b)
	rtt := medianRTT(b, srv.Addr())
	b.Run("redislock-linear10ms", func(b *testing.B) {
		rl := redislock.New(newClient(b, srv.Addr()))
		redistesting.RunContended(b, rtt, func(ctx context.Context, _ int) (func(), error) {
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
		redistesting.RunContended(b, rtt, providerLocker(p, "bench:contended:provider"))
	})
	b.Run("provider-2-processes", func(b *testing.B) {
		runContendedAcrossProcesses(b, srv.Addr(), rtt)
	})
}

// BenchmarkContendedAgainstHoldThenPing is BenchmarkContended's provider
// set against the ideal 1/(hold + RTT) measured rather than computed: a loop
// that holds 1 ms and then sends one PING, round after round in alternation
// with contended rounds of as many grants (see
// redistesting.RunContendedAgainstHoldThenPing). Run it with a fixed
// -benchtime, e.g. 10x: each op is one round of each.
func BenchmarkContendedAgainstHoldThenPing(b *testing.B) {
	srv := redistest.Start(b)
	c := newClient(b, srv.Addr())
	p := newProvider(b, srv.Addr(), nil)
	redistesting.RunContendedAgainstHoldThenPing(b, providerLocker(p, "bench:contended:ideal"),
		func(ctx context.Context) error { return c.Ping(ctx).Err() })
}

func providerLocker(p *redislocks.Provider, key string) redistesting.Locker {
	return func(ctx context.Context, _ int) (func(), error) {
		h, err := p.TryAcquire(ctx, key, 30*time.Second)
		if err != nil {
			return nil, err
		}
		return func() { _ = h.Release(context.Background()) }, nil
	}
}

// medianRTT is the PING round trip to addr through go-redis, busy and idle
// (see redistesting.RTT).
func medianRTT(b *testing.B, addr string) redistesting.RTT {
	c := newClient(b, addr)
	return redistesting.MeasureRTT(b, func() error { return c.Ping(context.Background()).Err() })
}

// BenchmarkHandoffLatency measures, per op, the time from a holder's release
// to the moment a waiter in another process (this test binary run again as
// a child, see TestHandoffWaiterProcess) has the lock. It reports p50 and
// p99 in µs, for the provider and for redislock polling every 10ms.
func BenchmarkHandoffLatency(b *testing.B) {
	srv := redistest.Start(b)
	rdb := newClient(b, srv.Addr())
	b.Run("redislock-linear10ms", func(b *testing.B) {
		holder := redislock.New(newClient(b, srv.Addr()))
		measureHandoff(b, srv.Addr(), "redislock",
			func(ctx context.Context) (func(), error) {
				l, err := holder.Obtain(ctx, "bench:handoff", 30*time.Second,
					&redislock.Options{RetryStrategy: redislock.LinearBackoff(time.Millisecond)})
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
		waiting := subscribed(b, rdb, holder, "bench:handoff")
		measureHandoff(b, srv.Addr(), "provider",
			func(ctx context.Context) (func(), error) {
				// The child's subscription of the last round is gone first,
				// so that the next one is a fresh waiter's.
				waitFor(b, "the child to unsubscribe", func() bool { return !waiting() })
				h, err := holder.TryAcquire(ctx, "bench:handoff", 30*time.Second)
				if err != nil {
					return nil, err
				}
				return func() { _ = h.Release(context.Background()) }, nil
			},
			// The child waits once Redis counts its subscription.
			func() { waitFor(b, "the child's subscription", waiting) })
	})
}

// measureHandoff runs the child waiter of kind and, per op: takes the lock
// with hold, tells the child to wait for it, waits until it does, releases,
// and reads the instant the child got the lock.
func measureHandoff(b *testing.B, addr, kind string, hold func(context.Context) (func(), error), waiting func()) {
	ctx := context.Background()
	rdb := newClient(b, addr)
	rdb.Del(ctx, "handoff:go", "handoff:acquired")
	child := redistest.SpawnTest(b, "TestHandoffWaiterProcess", "handoff-"+kind, "REDIS_ADDR="+addr)
	defer func() {
		rdb.RPush(ctx, "handoff:go", "stop")
		if err := child.Wait(time.Minute); err != nil {
			b.Errorf("child: %v\n%s", err, child.Output())
		}
	}()
	samples := make([]time.Duration, 0, b.N)
	for b.Loop() {
		b.StopTimer()
		release, err := hold(ctx)
		if err != nil {
			b.Fatal(err)
		}
		rdb.RPush(ctx, "handoff:go", "wait")
		waiting()
		b.StartTimer()
		t0 := time.Now()
		release()
		got, err := rdb.BLPop(ctx, time.Minute, "handoff:acquired").Result()
		b.StopTimer()
		if err != nil {
			b.Fatalf("the child never got the lock: %v\n%s", err, child.Output())
		}
		t1, _ := strconv.ParseInt(got[1], 10, 64)
		samples = append(samples, time.Unix(0, t1).Sub(t0))
		b.StartTimer()
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(samples[len(samples)*99/100].Microseconds()), "p99-µs")
}

// TestHandoffWaiterProcess is the waiting process of BenchmarkHandoffLatency;
// outside such a child it does nothing.
func TestHandoffWaiterProcess(t *testing.T) {
	role := redistest.ChildRole()
	if role != "handoff-provider" && role != "handoff-redislock" {
		t.Skip("the waiting process of BenchmarkHandoffLatency; it runs only as that benchmark's child")
	}
	addr := os.Getenv("REDIS_ADDR")
	rdb := newClient(t, addr)
	ctx := context.Background()
	var wait func() (func(), error)
	if role == "handoff-provider" {
		p := newProvider(t, addr, nil)
		wait = func() (func(), error) {
			h, err := p.TryAcquire(ctx, "bench:handoff", 30*time.Second)
			if err != nil {
				return nil, err
			}
			return func() { _ = h.Release(ctx) }, nil
		}
	} else {
		rl := redislock.New(newClient(t, addr))
		wait = func() (func(), error) {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			l, err := rl.Obtain(wctx, "bench:handoff", 30*time.Second,
				&redislock.Options{RetryStrategy: redislock.LinearBackoff(10 * time.Millisecond)})
			if err != nil {
				return nil, err
			}
			return func() { _ = l.Release(ctx) }, nil
		}
	}
	for {
		cmd, err := rdb.BLPop(ctx, 5*time.Minute, "handoff:go").Result()
		if err != nil || cmd[1] == "stop" {
			return
		}
		release, err := wait()
		if err != nil {
			t.Fatal(err)
		}
		acquired := time.Now().UnixNano()
		release()
		rdb.RPush(ctx, "handoff:acquired", acquired)
	}
}

// runContendedAcrossProcesses splits the 8 workers between this process and
// a child (TestContendedWorkerProcess), each with its own provider. Grants
// are counted with a shared DECR in Redis, and every worker notes the
// fencing token of each of its grants: the tokens, one per grant in grant
// order, give back the sequence of holders, hence the handoffs.
func runContendedAcrossProcesses(b *testing.B, addr string, rtt redistesting.RTT) {
	ctx := context.Background()
	rdb := newClient(b, addr)
	rdb.Del(ctx, "bench:c2:remaining", "bench:c2:go", "bench:c2:records", "bench:c2:done", "bench:c2:ready")
	rdb.Set(ctx, "bench:c2:remaining", b.N, 0)
	child := redistest.SpawnTest(b, "TestContendedWorkerProcess", "contended-worker", "REDIS_ADDR="+addr)
	if _, err := rdb.BLPop(ctx, time.Minute, "bench:c2:ready").Result(); err != nil {
		b.Fatalf("child not ready: %v\n%s", err, child.Output())
	}
	p := newProvider(b, addr, nil)
	b.ResetTimer()
	begin := time.Now()
	rdb.RPush(ctx, "bench:c2:go", "go")
	records, held := contendedWorkers2(ctx, rdb, p, "parent", contendedWorkers/2)
	if err := child.Wait(time.Minute); err != nil {
		b.Fatalf("child: %v\n%s", err, child.Output())
	}
	childEnd, _ := rdb.LPop(ctx, "bench:c2:done").Int64()
	elapsed := max(time.Since(begin), time.Unix(0, childEnd).Sub(begin))
	b.StopTimer()
	childRecords, _ := rdb.LRange(ctx, "bench:c2:records", 0, -1).Result()
	childHeld, _ := rdb.Get(ctx, "bench:c2:held").Int64()
	records = append(records, childRecords...)
	held += childHeld

	holderOf := make(map[uint64]string, len(records))
	grants := map[string]int{}
	for _, r := range records {
		tok, who, _ := strings.Cut(r, " ")
		t, _ := strconv.ParseUint(tok, 10, 64)
		holderOf[t] = who
		grants[who]++
	}
	if len(records) != b.N {
		b.Fatalf("%d grants recorded, want %d", len(records), b.N)
	}
	tokens := make([]uint64, 0, len(holderOf))
	for t := range holderOf {
		tokens = append(tokens, t)
	}
	slices.Sort(tokens)
	handoffs := 0
	for i := 1; i < len(tokens); i++ {
		if holderOf[tokens[i]] != holderOf[tokens[i-1]] {
			handoffs++
		}
	}
	lo, hi := b.N, 0
	for w := range contendedWorkers {
		proc := "parent"
		if w >= contendedWorkers/2 {
			proc = "child"
		}
		n := grants[fmt.Sprintf("%s/%d", proc, w%(contendedWorkers/2))]
		lo, hi = min(lo, n), max(hi, n)
	}
	redistesting.ReportContended(b, int64(handoffs), elapsed, time.Duration(held/int64(b.N)), rtt, int64(lo), int64(hi))
}

// contendedWorkers2 runs n workers named "<proc>/<i>" until the shared
// remaining count runs out; it returns "<token> <worker>" per grant and the
// total time held.
func contendedWorkers2(ctx context.Context, rdb *goredis.Client, p *redislocks.Provider, proc string, n int) ([]string, int64) {
	var mu sync.Mutex
	var records []string
	var held atomic.Int64
	var wg sync.WaitGroup
	for w := range n {
		who := fmt.Sprintf("%s/%d", proc, w)
		wg.Go(func() {
			for {
				left, err := rdb.Decr(ctx, "bench:c2:remaining").Result()
				if err != nil || left < 0 {
					return
				}
				h, err := p.TryAcquire(ctx, "bench:contended:processes", 30*time.Second)
				if err != nil {
					panic(err)
				}
				t0 := time.Now()
				time.Sleep(contendedHold)
				held.Add(int64(time.Since(t0)))
				_ = h.Release(ctx)
				mu.Lock()
				records = append(records, fmt.Sprintf("%d %s", h.Token(), who))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return records, held.Load()
}

// TestContendedWorkerProcess is the child of BenchmarkContended's
// provider-2-processes; outside such a child it does nothing.
func TestContendedWorkerProcess(t *testing.T) {
	if redistest.ChildRole() != "contended-worker" {
		t.Skip("the second process of BenchmarkContended/provider-2-processes; it runs only as that benchmark's child")
	}
	addr := os.Getenv("REDIS_ADDR")
	ctx := context.Background()
	rdb := newClient(t, addr)
	p := newProvider(t, addr, nil)
	rdb.RPush(ctx, "bench:c2:ready", "ready")
	if _, err := rdb.BLPop(ctx, time.Minute, "bench:c2:go").Result(); err != nil {
		t.Fatal(err)
	}
	records, held := contendedWorkers2(ctx, rdb, p, "child", contendedWorkers/2)
	rdb.RPush(ctx, "bench:c2:done", time.Now().UnixNano())
	rdb.Set(ctx, "bench:c2:held", held, 0)
	if len(records) > 0 {
		args := make([]any, len(records))
		for i, r := range records {
			args[i] = r
		}
		rdb.RPush(ctx, "bench:c2:records", args...)
	}
}

const (
	distinctWorkers = 64 // goroutines, each on keys of its own
	distinctOps     = 16 // acquisitions + releases per goroutine per round
)

// BenchmarkDistinctKeysParallel has 64 goroutines lock and release keys of
// their own (no contention) through raw redislock, the provider, and Send.
// Each op is one round of each of the three (rotating which goes first, so
// all meet the same moment's load), 64 × 16 acquisitions + releases each;
// it reports the median ops/s of each over the rounds and the ratios of the
// provider's and Send's to redislock's.
func BenchmarkDistinctKeysParallel(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	rl := redislock.New(newClient(b, srv.Addr()))
	p := newProvider(b, srv.Addr(), nil)
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
	keys := make([]string, distinctWorkers)
	for w := range keys {
		keys[w] = "bench:d:" + strconv.Itoa(w)
	}
	ops := [3]func(w int){
		func(w int) {
			l, err := rl.Obtain(ctx, keys[w]+":redislock", 30*time.Second, nil)
			if err != nil {
				b.Error(err)
				return
			}
			_ = l.Release(ctx)
		},
		func(w int) {
			h, err := p.TryAcquire(ctx, keys[w]+":provider", 0)
			if err != nil {
				b.Error(err)
				return
			}
			_ = h.Release(ctx)
		},
		func(w int) {
			if _, err := mediator.Send(ctx, m, withdraw{Account: keys[w]}); err != nil {
				b.Error(err)
			}
		},
	}
	round := func(op func(int)) float64 {
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := range distinctWorkers {
			wg.Go(func() {
				for range distinctOps {
					op(w)
				}
			})
		}
		wg.Wait()
		return distinctWorkers * distinctOps / time.Since(t0).Seconds()
	}
	var rates [3][]float64
	i := 0
	for b.Loop() {
		for j := range ops {
			k := (i + j) % len(ops)
			rates[k] = append(rates[k], round(ops[k]))
		}
		i++
	}
	var med [3]float64
	for k := range rates {
		slices.Sort(rates[k])
		med[k] = rates[k][len(rates[k])/2]
	}
	b.ReportMetric(med[0], "redislock-ops/s")
	b.ReportMetric(med[1], "provider-ops/s")
	b.ReportMetric(med[2], "send-ops/s")
	b.ReportMetric(med[1]/med[0], "provider/redislock")
	b.ReportMetric(med[2]/med[0], "send/redislock")
}
