package redlock_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-redsync/redsync/v4"
	redsyncredis "github.com/go-redsync/redsync/v4/redis"
	redsyncgoredis "github.com/go-redsync/redsync/v4/redis/goredis/v9"
	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// rlBenchDebit is the locked command of the Redlock benchmarks.
type rlBenchDebit struct {
	mediator.Command[uint64]
	locking.DistributedLock `lock:"timeout=0"`
}

// BenchmarkRedlockRoundTrips is the floor under BenchmarkRedlockUncontended
// on this machine: two round trips of a trivial script to one node, beside
// two rounds of it to three nodes at once, each round done when two of the
// three answered (what a majority protocol waits for), with no lock logic at
// all. On a machine with fewer cores than nodes plus client, the fan-out
// costs CPU rather than overlapping waits, and this ratio shows how much.
func BenchmarkRedlockRoundTrips(b *testing.B) {
	ns := startRedlockNodes(b, 3)
	ctx := context.Background()
	script := goredis.NewScript(`return 1`)
	clients := make([]*goredis.Client, 3)
	for i, a := range ns.addrs {
		clients[i] = rlClient(b, a)
		if err := script.Run(ctx, clients[i], nil).Err(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("1-node", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for range 2 {
				if err := script.Run(ctx, clients[0], nil).Err(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("3-nodes-2-of-3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for range 2 {
				done := make(chan error, 3)
				for _, c := range clients {
					go func() { done <- script.Run(ctx, c, nil).Err() }()
				}
				for range 2 {
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	})
}

// BenchmarkRedlockUncontended is one acquisition and release of a free lock
// on three local nodes beside the same on one node, in the same run: the
// single-node provider, Redlock on one node, Redlock on three (parallel
// fan-out: the target is at most 1.5x the single node), redsync on the
// same three nodes, and a Send through
// the mediator and the locking behavior on the single-node provider and on
// three-node Redlock.
func BenchmarkRedlockUncontended(b *testing.B) {
	ns := startRedlockNodes(b, 3)
	ctx := context.Background()
	acquireRelease := func(b *testing.B, p locking.Provider) {
		b.ReportAllocs()
		for b.Loop() {
			h, err := p.TryAcquire(ctx, "bench", 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := h.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	send := func(b *testing.B, opt mediator.Option) {
		m, err := mediator.New(opt,
			locking.WithDistributedLocking[rlBenchDebit, uint64](),
			mediator.WithHandler[rlBenchDebit, uint64](func(context.Context, rlBenchDebit) (uint64, error) { return 0, nil }),
		)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close(ctx)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := mediator.Send(ctx, m, rlBenchDebit{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("provider-1-node", func(b *testing.B) {
		p, err := redislocks.New(rlClient(b, ns.addrs[0]), &redlock.Options{KeyPrefix: "bench:single:"})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		acquireRelease(b, p)
	})
	b.Run("redlock-1-node", func(b *testing.B) {
		one := &rlNodes{addrs: ns.addrs[:1]}
		acquireRelease(b, one.redlock(b, &redlock.Options{KeyPrefix: "bench:one:"}))
	})
	b.Run("redlock-3-nodes", func(b *testing.B) {
		acquireRelease(b, ns.redlock(b, &redlock.Options{KeyPrefix: "bench:three:"}))
	})
	b.Run("redsync-3-nodes", func(b *testing.B) {
		// github.com/go-redsync/redsync/v4 in its quickest mode, WithFailFast:
		// it returns at a majority instead of waiting for every node.
		m := newRedsync(b, ns).NewMutex("bench:redsync:u", redsync.WithExpiry(30*time.Second), redsync.WithTries(1), redsync.WithFailFast(true))
		b.ReportAllocs()
		for b.Loop() {
			if err := m.LockContext(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := m.UnlockContext(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("send-provider-1-node", func(b *testing.B) {
		send(b, redislocks.WithRedisDistributedLocking(ns.addrs[0], func(o *redlock.Options) { o.KeyPrefix = "bench:send1:" }))
	})
	b.Run("send-redlock-3-nodes", func(b *testing.B) {
		send(b, redislocks.WithRedisDistributedLockingOptions(redlock.Options{Nodes: ns.addrs, KeyPrefix: "bench:send3:"}))
	})
}

// BenchmarkRedlockUncontendedInterleaved is BenchmarkRedlockUncontended
// with the drift of a shared machine taken out: each op runs an acquisition
// and release on the single-node provider, the same on three-node Redlock,
// and a Send through each, one after another in a rotating order, and
// reports the median latency of each and the ratios of those medians (the
// target: three nodes at most 1.5x one node).
func BenchmarkRedlockUncontendedInterleaved(b *testing.B) {
	ns := startRedlockNodes(b, 3)
	ctx := context.Background()
	single, err := redislocks.New(rlClient(b, ns.addrs[0]), &redlock.Options{KeyPrefix: "bench:i1:"})
	if err != nil {
		b.Fatal(err)
	}
	defer single.Close()
	three := ns.redlock(b, &redlock.Options{KeyPrefix: "bench:i3:"})
	newMediator := func(opt mediator.Option) *mediator.Mediator {
		m, err := mediator.New(opt,
			locking.WithDistributedLocking[rlBenchDebit, uint64](),
			mediator.WithHandler[rlBenchDebit, uint64](func(context.Context, rlBenchDebit) (uint64, error) { return 0, nil }),
		)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = m.Close(ctx) })
		return m
	}
	m1 := newMediator(redislocks.WithRedisDistributedLocking(ns.addrs[0], func(o *redlock.Options) { o.KeyPrefix = "bench:is1:" }))
	m3 := newMediator(redislocks.WithRedisDistributedLockingOptions(redlock.Options{Nodes: ns.addrs, KeyPrefix: "bench:is3:"}))
	acquireRelease := func(p locking.Provider) func() {
		return func() {
			h, err := p.TryAcquire(ctx, "bench", 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := h.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	send := func(m *mediator.Mediator) func() {
		return func() {
			if _, err := mediator.Send(ctx, m, rlBenchDebit{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	med := redistesting.Interleave(b, []func(){acquireRelease(single), acquireRelease(three), send(m1), send(m3)})
	b.ReportMetric(med[0], "1-node-µs")
	b.ReportMetric(med[1], "3-nodes-µs")
	b.ReportMetric(med[2], "send-1-node-µs")
	b.ReportMetric(med[3], "send-3-nodes-µs")
	b.ReportMetric(med[1]/med[0], "3/1-nodes")
	b.ReportMetric(med[3]/med[2], "send-3/1-nodes")
}

// BenchmarkRedlockContended is BenchmarkContended on three Redlock nodes: 8
// workers on one key, each holding the lock 1 ms per grant, all in one
// provider ("one-provider") or split between two providers with clients of
// their own, as two processes would be ("two-providers"), beside redsync on
// the same nodes. The RTT in
// %ideal is one node's: a handoff costs one release and one acquisition,
// each a round trip to the nodes at once.
func BenchmarkRedlockContended(b *testing.B) {
	ns := startRedlockNodes(b, 3)
	rtt := medianRTT(b, ns.addrs[0])
	b.Run("one-provider", func(b *testing.B) {
		r := ns.redlock(b, nil)
		redistesting.RunContended(b, rtt, redlockLocker(func(int) *redlock.Provider { return r }, "bench:rlc:one"))
	})
	b.Run("two-providers", func(b *testing.B) {
		rs := [2]*redlock.Provider{ns.redlock(b, nil), ns.redlock(b, nil)}
		redistesting.RunContended(b, rtt, redlockLocker(func(w int) *redlock.Provider { return rs[w%2] }, "bench:rlc:two"))
	})
	b.Run("redsync-retry10ms", func(b *testing.B) {
		// redsync retries every 10 ms, as the single-node redislock
		// baseline does (its default is a random 50-250 ms).
		rs := newRedsync(b, ns)
		redistesting.RunContended(b, rtt, func(ctx context.Context, _ int) (func(), error) {
			m := rs.NewMutex("bench:redsync:c", redsync.WithExpiry(30*time.Second), redsync.WithTries(1<<20),
				redsync.WithRetryDelay(10*time.Millisecond), redsync.WithFailFast(true))
			if err := m.LockContext(ctx); err != nil {
				return nil, err
			}
			return func() { _, _ = m.UnlockContext(context.Background()) }, nil
		})
	})
}

// newRedsync returns the baseline Go Redlock library on clients of its own
// to the same nodes.
func newRedsync(b *testing.B, ns *rlNodes) *redsync.Redsync {
	pools := make([]redsyncredis.Pool, len(ns.addrs))
	for i, a := range ns.addrs {
		pools[i] = redsyncgoredis.NewPool(rlClient(b, a))
	}
	return redsync.New(pools...)
}

func redlockLocker(of func(worker int) *redlock.Provider, key string) redistesting.Locker {
	return func(ctx context.Context, w int) (func(), error) {
		h, err := of(w).TryAcquire(ctx, key, 30*time.Second)
		if err != nil {
			return nil, err
		}
		return func() { _ = h.Release(context.Background()) }, nil
	}
}
