package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

func ExampleNew() {
	p := memory.New()
	ctx := context.Background()

	h, err := p.TryAcquire(ctx, "account:42", time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("held:", h.Key(), "token", h.Token())

	// A second caller with timeout 0 tries once and is told who holds what.
	_, err = p.TryAcquire(ctx, "account:42", 0)
	var lerr *locking.Error
	fmt.Println(errors.As(err, &lerr), lerr.Key, errors.Is(err, locking.ErrNotAcquired))

	_ = h.Release(ctx)
	_ = h.Release(ctx) // idempotent
	h2, _ := p.TryAcquire(ctx, "account:42", 0)
	fmt.Println("held again, token", h2.Token())
	_ = h2.Release(ctx)
	fmt.Println("keys with state:", p.Len())
	// Output:
	// held: account:42 token 1
	// true account:42 true
	// held again, token 2
	// keys with state: 0
}

type WithdrawResult struct{ Balance int64 }

type WithdrawCommand struct {
	mediator.Command[WithdrawResult]
	locking.DistributedLock `lock:"timeout=10s"`
	AccountID               string
	Amount                  int64
}

func (c WithdrawCommand) LockKey() string { return c.AccountID }

func ExampleWithInMemoryDistributedLocking() {
	balance := int64(1000)
	m, err := mediator.New(
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[WithdrawCommand, WithdrawResult](),
		mediator.WithHandler[WithdrawCommand, WithdrawResult](mediator.HandlerFunc[WithdrawCommand, WithdrawResult](
			func(ctx context.Context, c WithdrawCommand) (WithdrawResult, error) {
				h, _ := locking.FromContext(ctx)
				fmt.Println("holding", h.Key())
				balance -= c.Amount // safe: only one withdrawal per account at a time
				return WithdrawResult{Balance: balance}, nil
			})),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close(context.Background())

	res, err := mediator.Send(context.Background(), m, WithdrawCommand{AccountID: "42", Amount: 100})
	fmt.Println(res.Balance, err)
	// Output:
	// holding WithdrawCommand:42
	// 900 <nil>
}

func ExampleWithShards() {
	// One mutex for the whole key map: the choice for a single goroutine or
	// a handful of keys. The default, DefaultShards (1024), suits many goroutines.
	p := memory.New(memory.WithShards(1))
	h, _ := p.TryAcquire(context.Background(), "report", 0)
	fmt.Println(h.Key(), p.Len())
	_ = h.Release(context.Background())
	// Output: report 1
}

// contentionCounter is a provider that wraps another to count how often a
// key was busy. It passes handles and errors through unchanged, so
// errors.Is and errors.As still see what the inner provider returned.
type contentionCounter struct {
	inner locking.Provider
	busy  map[string]int // one goroutine in this example; guard it in real code
}

func (c *contentionCounter) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	h, err := c.inner.TryAcquire(ctx, key, timeout)
	if errors.Is(err, locking.ErrNotAcquired) {
		c.busy[key]++
	}
	return h, err
}

func ExampleProvider_wrapped() {
	inner := memory.New(memory.WithInstance("node-a"))
	var p locking.Provider = &contentionCounter{inner: inner, busy: map[string]int{}}
	ctx := context.Background()

	h, _ := p.TryAcquire(ctx, "report", 0)
	for range 3 {
		_, err := p.TryAcquire(ctx, "report", 0)
		fmt.Println(err)
	}
	_ = h.Release(ctx)
	fmt.Println("busy:", p.(*contentionCounter).busy["report"])
	// Output:
	// locking: "report" not acquired within 0s: held by node-a
	// locking: "report" not acquired within 0s: held by node-a
	// locking: "report" not acquired within 0s: held by node-a
	// busy: 3
}

func ExampleProvider_Inspect() {
	p := memory.New(memory.WithInstance("node-a"))
	ctx := context.Background()
	_, _ = p.Inspect(ctx, "") // from now on grants are timed too

	// The locking behavior labels its acquisitions itself; code that calls
	// the provider directly can do the same.
	h, _ := p.TryAcquire(locking.ContextWithAcquirer(ctx, locking.Acquirer{MessageType: "bank.WithdrawCommand"}), "account:42", 0)
	info, _ := p.Inspect(ctx, "account:42")
	fmt.Println(info.Held, info.Holder.Instance, info.Holder.MessageType, info.Token == h.Token(), info.Waiters)

	_, err := p.TryAcquire(ctx, "account:42", 0)
	var held *locking.HeldError
	if errors.As(err, &held) {
		fmt.Println("busy, held by", held.Holder.Instance, "for", held.Holder.MessageType)
	}

	_ = h.Release(ctx)
	info, _ = p.Inspect(ctx, "account:42")
	fmt.Println(info.Held)
	// Output:
	// true node-a bank.WithdrawCommand true 0
	// busy, held by node-a for bank.WithdrawCommand
	// false
}
