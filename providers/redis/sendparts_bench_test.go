package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/bsm/redislock"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/redistest"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/redistesting"
)

// BenchmarkUncontendedSendParts splits the Send's cost over raw redislock
// into its parts, interleaved like BenchmarkUncontendedInterleaved: the
// provider with timeout 0 and with the Send's timeout (2s), and a Send of a
// message with timeout 0 and with 2s.
func BenchmarkUncontendedSendParts(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	rl := redislock.New(newClient(b, srv.Addr()))
	p := newProvider(b, srv.Addr(), nil)
	p2 := newProvider(b, srv.Addr(), nil)
	// Each Send has a mediator and a client of its own, as each other
	// operation has: an op that follows another on the same connection
	// would find it warm.
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
	m := newMediator(
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(context.Context, withdraw) (uint64, error) { return 0, nil }),
	)
	ops := []func(){
		func() {
			l, err := rl.Obtain(ctx, "bench:p:redislock", 30*time.Second, nil)
			if err != nil {
				b.Fatal(err)
			}
			_ = l.Release(ctx)
		},
		func() {
			h, err := p.TryAcquire(ctx, "bench:p:provider0", 0)
			if err != nil {
				b.Fatal(err)
			}
			_ = h.Release(ctx)
		},
		func() {
			h, err := p2.TryAcquire(ctx, "bench:p:provider2s", 2*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			_ = h.Release(ctx)
		},
		func() {
			if _, err := mediator.Send(ctx, m0, tryWithdraw{Account: "bench0"}); err != nil {
				b.Fatal(err)
			}
		},
		func() {
			if _, err := mediator.Send(ctx, m, withdraw{Account: "bench2s"}); err != nil {
				b.Fatal(err)
			}
		},
	}
	med := redistesting.Interleave(b, ops)
	names := []string{"redislock", "provider0", "provider2s", "send0", "send2s"}
	for k, n := range names {
		b.ReportMetric(med[k], n+"-µs")
		if k > 0 {
			b.ReportMetric(med[k]/med[0], n+"/redislock")
		}
	}
}
