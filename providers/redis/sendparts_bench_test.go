package redis_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bsm/redislock"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
)

// BenchmarkUncontendedSendParts splits what an uncontended Send costs over
// raw redislock: the provider with timeout 0 (BenchmarkUncontendedInterleaved's
// provider op) and with the Send's timeout of 2s, and the Send of a message
// with timeout 0 and with 2s. Each of them comes right after a redislock op,
// with a client of its own: an op's latency depends on what ran just before
// it (code and data the previous op left in the caches, a connection it
// just used), so each is measured after the same one. It reports each
// one's median over the median of the redislock ops.
func BenchmarkUncontendedSendParts(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	rl := redislock.New(newClient(b, srv.Addr()))
	p0 := newProvider(b, srv.Addr(), nil)
	p2 := newProvider(b, srv.Addr(), nil)
	newMediator := func(opts ...mediator.Option) *mediator.Mediator {
		client := newClient(b, srv.Addr())
		m, err := mediator.New(append([]mediator.Option{
			mediator.Provide(func() redislocks.UniversalClient { return client }),
			redislocks.WithRedisDistributedLockingFromDI(),
		}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = m.Close(ctx) })
		return m
	}
	m0 := newMediator(
		locking.WithDistributedLocking[tryWithdraw, uint64](),
		mediator.WithHandler[tryWithdraw, uint64](func(context.Context, tryWithdraw) (uint64, error) { return 0, nil }),
	)
	m2 := newMediator(
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(context.Context, withdraw) (uint64, error) { return 0, nil }),
	)
	redislockOp := func() {
		l, err := rl.Obtain(ctx, "bench:p:redislock", 30*time.Second, nil)
		if err != nil {
			b.Fatal(err)
		}
		_ = l.Release(ctx)
	}
	providerOp := func(p *redislocks.Provider, key string, timeout time.Duration) func() {
		return func() {
			h, err := p.TryAcquire(ctx, key, timeout)
			if err != nil {
				b.Fatal(err)
			}
			_ = h.Release(ctx)
		}
	}
	parts := []struct {
		name string
		op   func()
	}{
		{"provider0", providerOp(p0, "bench:p:provider0", 0)},
		{"provider2s", providerOp(p2, "bench:p:provider2s", 2*time.Second)},
		{"send0", func() {
			if _, err := mediator.Send(ctx, m0, tryWithdraw{Account: "bench0"}); err != nil {
				b.Fatal(err)
			}
		}},
		{"send2s", func() {
			if _, err := mediator.Send(ctx, m2, withdraw{Account: "bench2s"}); err != nil {
				b.Fatal(err)
			}
		}},
	}
	ops := make([]func(), 0, 2*len(parts))
	for _, part := range parts {
		ops = append(ops, redislockOp, part.op)
	}
	med := redistesting.Interleave(b, ops)
	var rls []float64
	for k := 0; k < len(med); k += 2 {
		rls = append(rls, med[k])
	}
	slices.Sort(rls)
	base := rls[len(rls)/2]
	b.ReportMetric(base, "redislock-µs")
	for i, part := range parts {
		b.ReportMetric(med[2*i+1]/base, part.name+"/redislock")
	}
}
