package redlock_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/redis/redlock"
)

// Redlock on three independent Redis masters: each lock is taken on a
// majority, so one node may be down. Run the nodes with appendonly yes and
// appendfsync always (or restart a crashed node only after a TTL): see
// docs/reliability.md.
func ExampleWithRedlockDistributedLocking() {
	m, err := mediator.New(
		redlock.WithRedlockDistributedLocking("redis-a:6379,redis-b:6379,redis-c:6379",
			func(o *redlock.Options) { o.TTL = 10 * time.Second }),
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

// New on clients the application built; it closes none of them.
func ExampleNew() {
	var nodes []redlock.Client
	for _, addr := range []string{"redis-a:6379", "redis-b:6379", "redis-c:6379"} {
		c := goredis.NewClient(&goredis.Options{Addr: addr, ContextTimeoutEnabled: true})
		defer c.Close()
		nodes = append(nodes, c)
	}
	r, err := redlock.New(nodes, &redlock.Options{TTL: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	ctx := context.Background()
	h, err := r.TryAcquire(ctx, "report:daily", 0)
	if err != nil {
		fmt.Println("not now:", err)
		return
	}
	defer h.Release(ctx)
	fmt.Println("fencing token for the store's writes:", h.Token())
}

// Redlock on the application's own clients, taken from the container: the
// mediator's Close ends the provider's calls but leaves the clients open
// for the application to close.
func ExampleWithRedlockDistributedLockingFromDI() {
	m, err := mediator.New(
		mediator.Provide(func() redlock.Clients {
			var nodes redlock.Clients
			for _, addr := range []string{"redis-a:6379", "redis-b:6379", "redis-c:6379"} {
				nodes = append(nodes, goredis.NewClient(&goredis.Options{Addr: addr, ContextTimeoutEnabled: true}))
			}
			return nodes
		}),
		redlock.WithRedlockDistributedLockingFromDI(func(o *redlock.Options) { o.KeyPrefix = "app:locks:" }),
		locking.WithDistributedLocking[WithdrawCommand, int64](),
		mediator.WithHandler[WithdrawCommand, int64](withdrawHandler),
	)
	if err != nil {
		fmt.Println("build:", err)
		return
	}
	defer m.Close(context.Background())
}
