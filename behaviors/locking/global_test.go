package locking_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// UnmarkedQuery carries no DistributedLock marker.
type UnmarkedQuery struct {
	mediator.Query[bool]
	ID string
}

func TestGlobalLockingLocksMarkedTypesOnly(t *testing.T) {
	fake := newFake()
	m := build(t, fake.option(),
		locking.WithGlobalDistributedLocking(func(o *locking.Options) { o.GlobalKeyPrefix = "app" }),
		mediator.WithHandler[CompositeCommand, []string](heldKeys[CompositeCommand]),
		mediator.WithHandler[TransferKeysCommand, []string](heldKeys[TransferKeysCommand]),
		mediator.WithHandler[ApproveInvoiceCommand, []string](heldKeys[ApproveInvoiceCommand]),
		mediator.WithHandler[*PointerCommand, []string](heldKeys[*PointerCommand]),
		mediator.WithHandler[UnmarkedQuery, bool](func(ctx context.Context, _ UnmarkedQuery) (bool, error) {
			_, locked := locking.FromContext(ctx)
			return locked, nil
		}),
	)
	ctx := context.Background()
	cases := []struct {
		name string
		send func() ([]string, error)
		want string
	}{
		{"key fields", func() ([]string, error) {
			return mediator.Send(ctx, m, CompositeCommand{Tenant: "t", Seq: 1, Shard: 2, Account: 3})
		}, "app:CompositeCommand:t:1:false:2:acc-3"},
		{"LockKeys", func() ([]string, error) {
			return mediator.Send(ctx, m, TransferKeysCommand{Accounts: []string{"b", "a"}})
		}, "app:account:a app:account:b"},
		{"LockKey", func() ([]string, error) {
			return mediator.Send(ctx, m, ApproveInvoiceCommand{TenantID: "x", InvoiceID: "y"})
		}, "app:invoice:x:y"},
		{"pointer message with key fields", func() ([]string, error) {
			return mediator.Send(ctx, m, &PointerCommand{ID: 4})
		}, "app:ptr:4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.send()
			if err != nil || joined(got) != c.want {
				t.Fatalf("Send = %q, %v; want %q", joined(got), err, c.want)
			}
		})
	}
	locked, err := mediator.Send(ctx, m, UnmarkedQuery{ID: "1"})
	if err != nil || locked {
		t.Fatalf("unmarked type: locked = %v, err = %v; want not locked", locked, err)
	}
	if len(fake.timeouts) != 5 {
		t.Fatalf("provider asked for %v, want 5 keys and nothing for the unmarked type", fake.timeouts)
	}
}

func TestGlobalLockingThrowFalseReturnsZero(t *testing.T) {
	fake := newFake()
	calls := &counter{}
	m := build(t, fake.option(),
		locking.WithGlobalDistributedLocking(),
		mediator.WithHandler[SkipCommand, int](func(context.Context, SkipCommand) (int, error) {
			calls.n.Add(1)
			return 7, nil
		}),
	)
	fake.held["account:1"] = true
	res, err := mediator.Send(context.Background(), m, SkipCommand{ID: "1"})
	if res != 0 || err != nil || calls.get() != 0 {
		t.Fatalf("Send = %d, %v with %d calls; want 0, nil, 0", res, err, calls.get())
	}
}

func TestPerTypeRegistrationReplacesGlobalLockingForItsType(t *testing.T) {
	var events []locking.LockEvent
	fake := newFake()
	m := build(t, fake.option(),
		locking.WithObserver(locking.ObserverFunc(func(e locking.LockEvent) { events = append(events, e) })),
		locking.WithGlobalDistributedLocking(),
		locking.WithDistributedLocking[ApproveInvoiceCommand, []string](func(o *locking.Options) { o.KeyPrefix = "own" }),
		mediator.WithHandler[ApproveInvoiceCommand, []string](heldKeys[ApproveInvoiceCommand]),
	)
	got, err := mediator.Send(context.Background(), m, ApproveInvoiceCommand{TenantID: "1"})
	if err != nil || joined(got) != "own:1:" {
		t.Fatalf("Send = %q, %v; want own:1:", joined(got), err)
	}
	if len(events) != 2 || events[0].Outcome != locking.Acquired {
		t.Fatalf("events = %+v, want one acquire and one release", events)
	}
}

func TestGlobalLockingWithABadTagFailsBuild(t *testing.T) {
	_, err := mediator.New(memory.WithInMemoryDistributedLocking(),
		locking.WithGlobalDistributedLocking(),
		mediator.WithHandler[BadBoolCommand, mediator.Unit](unitHandler[BadBoolCommand]))
	var te *locking.TagError
	if !errors.As(err, &te) || te.Type != "locking_test.BadBoolCommand" || te.Word != "throw=maybe" {
		t.Fatalf("err = %v, want a *TagError for BadBoolCommand", err)
	}
}

func TestGlobalLockingWithoutProviderFailsBuild(t *testing.T) {
	_, err := mediator.New(locking.WithGlobalDistributedLocking(),
		mediator.WithHandler[SkipCommand, int](func(context.Context, SkipCommand) (int, error) { return 0, nil }))
	if !errors.Is(err, locking.ErrNoProvider) {
		t.Fatalf("err = %v, want ErrNoProvider", err)
	}
}

func TestGlobalLockingExcludesOnOneKey(t *testing.T) {
	var inside, worst atomic.Int64
	m := build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithGlobalDistributedLocking(),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) {
			n := inside.Add(1)
			for w := worst.Load(); n > w && !worst.CompareAndSwap(w, n); w = worst.Load() {
			}
			runtime.Gosched()
			inside.Add(-1)
			return 0, nil
		}))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 20 {
				if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: "one"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if worst.Load() >= 2 {
		t.Fatalf("%d handlers inside one global lock at once", worst.Load())
	}
}
