package redis_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	redislocks "github.com/turbomediator/turbomediator-go/providers/redis"
)

// These examples need a Redis server, so they are compiled but not run; the
// tests run the same flows against a redis-server of their own.

type WithdrawCommand struct {
	mediator.Command[int64]
	locking.DistributedLock `lock:"prefix=account,timeout=5s"`
	AccountID               string
	Amount                  int64
}

func (c WithdrawCommand) LockKey() string { return c.AccountID }

func withdrawHandler(ctx context.Context, c WithdrawCommand) (int64, error) {
	lock, _ := locking.FromContext(ctx)
	// Write with lock.Token() as the fence: see docs/fencing.md.
	_ = lock.Token()
	return 0, nil
}

func ExampleWithRedisDistributedLocking() {
	m, err := mediator.New(
		redislocks.WithRedisDistributedLocking("localhost:6379", func(o *redislocks.Options) {
			o.KeyPrefix = "bank:locks:"
			o.TTL = 10 * time.Second
		}),
		locking.WithDistributedLocking[WithdrawCommand, int64](),
		mediator.WithHandler[WithdrawCommand, int64](withdrawHandler),
	)
	if errors.Is(err, locking.ErrUnavailable) {
		fmt.Println("Redis does not answer:", err)
		return
	}
	if err != nil {
		panic(err)
	}
	defer m.Close(context.Background()) // closes the provider's client

	_, err = mediator.Send(context.Background(), m, WithdrawCommand{AccountID: "42", Amount: 100})
	var contended *locking.Error
	switch {
	case errors.As(err, &contended):
		fmt.Println("account busy:", contended.Key) // "account:42", without "bank:locks:"
	case errors.Is(err, locking.ErrUnavailable):
		fmt.Println("lock store down:", err)
	}
}

func ExampleWithRedisDistributedLockingFromDI() {
	rdb := goredis.NewUniversalClient(&goredis.UniversalOptions{Addrs: []string{"localhost:6379"}})
	defer rdb.Close() // the app's client: the mediator leaves it open

	m, err := mediator.New(
		mediator.Provide(func() redislocks.UniversalClient { return rdb }),
		redislocks.WithRedisDistributedLockingFromDI(),
		locking.WithDistributedLocking[WithdrawCommand, int64](),
		mediator.WithHandler[WithdrawCommand, int64](withdrawHandler),
	)
	if err != nil {
		panic(err)
	}
	defer m.Close(context.Background())
}

func ExampleNew() {
	rdb := goredis.NewClient(&goredis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	p, err := redislocks.New(rdb, nil) // nil: every default
	if err != nil {
		panic(err)
	}
	defer p.Close()

	ctx := context.Background()
	h, err := p.TryAcquire(ctx, "report:daily", 2*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Release(ctx)
	select {
	case <-h.Lost():
		fmt.Println("lease lost: stop writing")
	default:
		fmt.Println("holding", h.Key(), "with token", h.Token())
	}
}

// Redlock on three independent Redis masters: each lock is taken on a
// majority, so one node may be down. Run the nodes with appendonly yes and
// appendfsync always (or restart a crashed node only after a TTL): see
// docs/reliability.md.
func ExampleWithRedisDistributedLocking_redlock() {
	m, err := mediator.New(
		redislocks.WithRedisDistributedLocking("redlock://redis-a:6379,redis-b:6379,redis-c:6379",
			func(o *redislocks.Options) { o.TTL = 10 * time.Second }),
		locking.WithDistributedLocking[WithdrawCommand, int64](),
		mediator.WithHandler[WithdrawCommand, int64](withdrawHandler),
	)
	if errors.Is(err, locking.ErrUnavailable) {
		fmt.Println("fewer than two of the three nodes answer:", err)
		return
	}
	if err != nil {
		panic(err)
	}
	defer m.Close(context.Background())
	_, err = mediator.Send(context.Background(), m, WithdrawCommand{AccountID: "42", Amount: 100})
	if errors.Is(err, locking.ErrUnavailable) {
		fmt.Println("no majority of nodes:", err)
	}
}
