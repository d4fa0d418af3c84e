package locking_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// A small bank: both commands lock accounts under the one prefix "account",
// so a transfer's locks and a withdrawal's are the same locks.

type bankTransfer struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=account,timeout=30s"`
	From, To                string
	Cents                   int64
}

func (c bankTransfer) LockKeys() []string { return []string{c.From, c.To} }

type bankWithdraw struct {
	mediator.Command[int64]
	// timeout=0: a nested withdrawal that tried to take the lock its
	// transfer holds would fail at once instead of passing.
	locking.DistributedLock `lock:"prefix=account,timeout=0"`
	Account                 string
	Cents                   int64
}

func (c bankWithdraw) LockKey() string { return c.Account }

// bank keeps balances in a plain map: only the locks protect it, and the race
// detector reports any access they fail to order. Its handlers get the
// mediator they send through from the container.
type bank struct {
	m        *mediator.Mediator
	balances map[string]int64
}

func newBank(t *testing.T) *bank {
	balances := map[string]int64{"A": 1_000_000, "B": 1_000_000}
	var b *bank
	m := build(t,
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[bankTransfer, mediator.Unit](),
		locking.WithDistributedLocking[bankWithdraw, int64](),
		mediator.Provide(func(m *mediator.Mediator) *bank {
			b = &bank{m: m, balances: balances}
			return b
		}),
		mediator.WithHandler[bankTransfer, mediator.Unit](func(b *bank) mediator.HandlerFunc[bankTransfer, mediator.Unit] { return b.transfer }),
		mediator.WithHandler[bankWithdraw, int64](func(b *bank) mediator.HandlerFunc[bankWithdraw, int64] { return b.withdraw }),
	)
	if b == nil || b.m != m {
		t.Fatal("the container did not give the bank the mediator Build returned")
	}
	return b
}

func (b *bank) transfer(ctx context.Context, c bankTransfer) (mediator.Unit, error) {
	if n := len(locking.AllFromContext(ctx)); n != 2 {
		return mediator.Unit{}, fmt.Errorf("transfer holds %d locks, want 2", n)
	}
	// Re-entry: the withdrawal's key is held by this transfer's scope.
	if _, err := mediator.Send(ctx, b.m, bankWithdraw{Account: c.From, Cents: c.Cents}); err != nil {
		return mediator.Unit{}, err
	}
	b.balances[c.To] += c.Cents
	return mediator.Unit{}, nil
}

func (b *bank) withdraw(ctx context.Context, c bankWithdraw) (int64, error) {
	h, ok := locking.FromContext(ctx)
	if !ok || h.Key() != "account:"+c.Account {
		return 0, fmt.Errorf("withdraw sees handle %v, want account:%s", h, c.Account)
	}
	b.balances[c.Account] -= c.Cents
	return b.balances[c.Account], nil
}

func TestTransfersBothWaysFinishWithoutDeadlock(t *testing.T) {
	b := newBank(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		from, to := "A", "B"
		if i%2 == 1 {
			from, to = "B", "A"
		}
		wg.Go(func() {
			if _, err := mediator.Send(context.Background(), b.m, bankTransfer{From: from, To: to, Cents: int64(i + 1)}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if sum := b.balances["A"] + b.balances["B"]; sum != 2_000_000 {
		t.Fatalf("money not conserved: A+B = %d", sum)
	}
}

func TestNestedSendOnAHeldKeyDoesNotWait(t *testing.T) {
	b := newBank(t)
	if _, err := mediator.Send(context.Background(), b.m, bankTransfer{From: "A", To: "B", Cents: 5}); err != nil {
		t.Fatalf("transfer with a nested withdrawal: %v", err)
	}
	if b.balances["A"] != 999_995 || b.balances["B"] != 1_000_005 {
		t.Fatalf("balances = %v", b.balances)
	}
	// Outside a transfer the withdrawal takes its own lock as usual.
	if bal, err := mediator.Send(context.Background(), b.m, bankWithdraw{Account: "B", Cents: 5}); err != nil || bal != 1_000_000 {
		t.Fatalf("withdraw = %d, %v", bal, err)
	}
}

func TestScopeEndsWithItsHandler(t *testing.T) {
	var leaked context.Context
	m := build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[bankWithdraw, int64](),
		mediator.WithHandler[bankWithdraw, int64](func(ctx context.Context, _ bankWithdraw) (int64, error) {
			leaked = ctx
			return 0, nil
		}))
	if _, err := mediator.Send(context.Background(), m, bankWithdraw{Account: "A"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := locking.FromContext(leaked); ok {
		t.Fatal("FromContext still finds a released lock")
	}
	if _, ok := locking.HandleFor(leaked, "account:A"); ok {
		t.Fatal("HandleFor still finds a released lock")
	}
	// A Send on a context kept past its handler must take the lock itself.
	if _, err := mediator.Send(leaked, m, bankWithdraw{Account: "A"}); err != nil {
		t.Fatal(err)
	}
}

func TestMultiKeyFailureReleasesWhatItTook(t *testing.T) {
	fake := newFake()
	m := build(t, fake.option(),
		locking.WithDistributedLocking[bankTransfer, mediator.Unit](func(o *locking.Options) { o.DefaultTimeout = 0 }),
		mediator.WithHandler[bankTransfer, mediator.Unit](unitHandler[bankTransfer]))
	fake.held["account:B"] = true
	_, err := mediator.Send(context.Background(), m, bankTransfer{From: "A", To: "B"})
	var le *locking.Error
	if !errors.As(err, &le) || le.Key != "account:B" {
		t.Fatalf("err = %v, want *Error for account:B", err)
	}
	if fake.held["account:A"] {
		t.Fatal("account:A kept after the transfer failed to get account:B")
	}
}

func TestReentryIsPerProvider(t *testing.T) {
	rec := &recorder{}
	inner := build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithObserver(rec),
		locking.WithDistributedLocking[bankWithdraw, int64](),
		mediator.WithHandler[bankWithdraw, int64](func(context.Context, bankWithdraw) (int64, error) { return 0, nil }))
	outer := build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[bankTransfer, mediator.Unit](),
		mediator.WithHandler[bankTransfer, mediator.Unit](func(ctx context.Context, c bankTransfer) (mediator.Unit, error) {
			_, err := mediator.Send(ctx, inner, bankWithdraw{Account: c.From})
			return mediator.Unit{}, err
		}))
	if _, err := mediator.Send(context.Background(), outer, bankTransfer{From: "A", To: "B"}); err != nil {
		t.Fatal(err)
	}
	if got := rec.outcomes(); got != "acquired account:A, released account:A" {
		t.Fatalf("the other mediator's provider saw %q; it must take its own lock", got)
	}
}

func TestNestedMultiKeySendTakesOnlyTheKeysNotHeld(t *testing.T) {
	rec := &recorder{}
	m := build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithObserver(rec),
		locking.WithDistributedLocking[bankWithdraw, int64](),
		locking.WithDistributedLocking[bankTransfer, mediator.Unit](),
		mediator.WithHandler[bankWithdraw, int64](func(m *mediator.Mediator) mediator.HandlerFunc[bankWithdraw, int64] {
			return func(ctx context.Context, c bankWithdraw) (int64, error) {
				_, err := mediator.Send(ctx, m, bankTransfer{From: c.Account, To: "Z"})
				return 0, err
			}
		}),
		mediator.WithHandler[bankTransfer, mediator.Unit](func(ctx context.Context, _ bankTransfer) (mediator.Unit, error) {
			var keys []string
			for _, h := range locking.AllFromContext(ctx) {
				keys = append(keys, h.Key())
			}
			if joined(keys) != "account:A account:Z" {
				t.Errorf("nested transfer holds %v", keys)
			}
			return mediator.Unit{}, nil
		}))
	if _, err := mediator.Send(context.Background(), m, bankWithdraw{Account: "A"}); err != nil {
		t.Fatal(err)
	}
	want := "acquired account:A, acquired account:Z, released account:Z, released account:A"
	if got := rec.outcomes(); got != want {
		t.Fatalf("outcomes %q, want %q", got, want)
	}
}
