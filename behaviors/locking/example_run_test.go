package locking_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// AccountFrozen is a notification whose handlers run under the account's
// lock: the same marker, tag and LockKey as a command.
type AccountFrozen struct {
	mediator.Notification
	locking.DistributedLock `lock:"prefix=account,timeout=5s"`
	AccountID               string
}

func (n AccountFrozen) LockKey() string { return n.AccountID }

func ExampleWithNotificationLocking() {
	m, err := mediator.New(
		memory.WithInMemoryDistributedLocking(),
		locking.WithNotificationLocking[AccountFrozen](),
		mediator.WithNotificationHandler[AccountFrozen](func(ctx context.Context, n AccountFrozen) error {
			h, _ := locking.FromContext(ctx)
			fmt.Println("audit under", h.Key())
			return nil
		}),
		mediator.WithNotificationHandler[AccountFrozen](func(ctx context.Context, n AccountFrozen) error {
			h, _ := locking.FromContext(ctx)
			fmt.Println("notify under", h.Key())
			return nil
		}),
	)
	if err != nil {
		panic(err)
	}
	defer m.Close(context.Background())
	fmt.Println(mediator.Publish(context.Background(), m, AccountFrozen{AccountID: "42"}))
	// Output:
	// audit under account:42
	// notify under account:42
	// <nil>
}

// A cron job outside Send takes the same lock as the handlers would.
func ExampleRunLocked() {
	p := memory.New()
	err := locking.RunLocked(context.Background(), p, "nightly-report", 10*time.Second, func(ctx context.Context) error {
		h, _ := locking.FromContext(ctx)
		fmt.Println("report runs under", h.Key(), "with token", h.Token())
		return nil
	})
	fmt.Println(err)

	// While another holds the key, the job does not run.
	held, _ := p.TryAcquire(context.Background(), "nightly-report", 0)
	defer held.Release(context.Background())
	err = locking.RunLocked(context.Background(), p, "nightly-report", 0, func(context.Context) error {
		fmt.Println("never printed")
		return nil
	})
	fmt.Println(errors.Is(err, locking.ErrNotAcquired))
	// Output:
	// report runs under nightly-report with token 1
	// <nil>
	// true
}

// A periodic job that must run on one instance of the fleet: each instance
// runs the Singleton; the leader ticks, the others wait. When the leader
// stops (here its context ends; in production its process dies and its lease
// runs out, or it loses the lock), another takes over.
func ExampleSingleton() {
	p := memory.New() // in a fleet: the Redis, etcd or PostgreSQL provider
	ticks := make(chan string)
	job := func(instance string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			ticker := time.NewTicker(10 * time.Millisecond)
			defer ticker.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-ticker.C:
					select {
					case ticks <- instance:
					case <-ctx.Done():
						return nil
					}
				}
			}
		}
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	done := make(chan error, 2)
	s := &locking.Singleton{Provider: p, Key: "invoice-run", Backoff: 10 * time.Millisecond}
	go func() { done <- s.Run(ctxA, job("a")) }()
	leader := <-ticks // a or b, whichever won
	fmt.Println("one leader ticks:", leader == <-ticks)
	go func() { done <- s.Run(ctxB, job("b")) }()
	// Stop the leader; the other takes over.
	if leader == "a" {
		stopA()
	} else {
		stopB()
	}
	for t := range ticks {
		if t != leader {
			fmt.Println("taken over")
			break
		}
	}
	stopA()
	stopB()
	fmt.Println(<-done, <-done)
	// Output:
	// one leader ticks: true
	// taken over
	// context canceled context canceled
}

// ExportStatement streams an account's statement under the account's lock,
// held from the first item to the end of the range.
type ExportStatement struct {
	mediator.StreamRequest[string]
	locking.DistributedLock `lock:"prefix=account,timeout=5s"`
	AccountID               string `lock:"key"`
}

func ExampleWithStreamLocking() {
	p := memory.New()
	m, err := mediator.New(
		locking.WithDistributedLockProvider[*memory.Provider](func() *memory.Provider { return p }),
		locking.WithStreamLocking[ExportStatement, string](),
		mediator.WithStreamHandler[ExportStatement, string](func(ctx context.Context, q ExportStatement) iter.Seq2[string, error] {
			return func(yield func(string, error) bool) {
				h, _ := locking.FromContext(ctx)
				for _, line := range []string{"opening 1000", "withdraw 250", "closing 750"} {
					if !yield(h.Key()+" "+line, nil) {
						return
					}
				}
			}
		}),
	)
	if err != nil {
		panic(err)
	}
	for line, err := range mediator.Stream(context.Background(), m, ExportStatement{AccountID: "42"}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(line)
		if line == "account:42 withdraw 250" {
			break // the lock is released here
		}
	}
	fmt.Println("keys held:", p.Len())
	// Output:
	// account:42 opening 1000
	// account:42 withdraw 250
	// keys held: 0
}
