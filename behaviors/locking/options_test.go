package locking_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

type TaggedOrderCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=order,timeout=1s,throw=false"`
	ID                      string
}

func (c TaggedOrderCommand) LockKey() string { return c.ID }

type PlainInvoiceCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
	ID string
}

func (c PlainInvoiceCommand) LockKey() string { return c.ID }

func unitHandler[Req any](context.Context, Req) (mediator.Unit, error) { return mediator.Unit{}, nil }

func TestPrecedenceRegistrationOverTagOverDefaults(t *testing.T) {
	fake := newFake()
	m := build(t, fake.option(),
		locking.WithDefaults(func(o *locking.Options) {
			o.DefaultTimeout = 5 * time.Second
			o.GlobalKeyPrefix = "g"
		}),
		// Sets the timeout to the built-in default on purpose: set is set,
		// even to 30s, and beats the tag's 1s.
		locking.WithDistributedLocking[TaggedOrderCommand, mediator.Unit](func(o *locking.Options) {
			o.DefaultTimeout = locking.DefaultTimeout
			o.KeyPrefix = "orders"
		}),
		locking.WithDistributedLocking[PlainInvoiceCommand, mediator.Unit](),
		mediator.WithHandler[TaggedOrderCommand, mediator.Unit](unitHandler[TaggedOrderCommand]),
		mediator.WithHandler[PlainInvoiceCommand, mediator.Unit](unitHandler[PlainInvoiceCommand]),
	)
	ctx := context.Background()
	if _, err := mediator.Send(ctx, m, TaggedOrderCommand{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := mediator.Send(ctx, m, PlainInvoiceCommand{ID: "2"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"g:orders:1": 30 * time.Second, "g:PlainInvoiceCommand:2": 5 * time.Second}
	if len(fake.timeouts) != len(want) {
		t.Fatalf("keys asked = %v, want %v", fake.timeouts, want)
	}
	for k, d := range want {
		if got, ok := fake.timeouts[k]; !ok || got != d {
			t.Fatalf("key %s asked with %v (present %v), want %v; all: %v", k, got, ok, d, fake.timeouts)
		}
	}
}

func TestTagBeatsDefaultsWhenTheRegistrationSetsNothing(t *testing.T) {
	fake := newFake()
	m := build(t, fake.option(),
		locking.WithDefaults(func(o *locking.Options) { o.DefaultTimeout = 5 * time.Second }),
		locking.WithDistributedLocking[TaggedOrderCommand, mediator.Unit](),
		mediator.WithHandler[TaggedOrderCommand, mediator.Unit](unitHandler[TaggedOrderCommand]),
	)
	if _, err := mediator.Send(context.Background(), m, TaggedOrderCommand{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.timeouts["order:1"]; got != time.Second {
		t.Fatalf("timeout = %v, want the tag's 1s (keys %v)", got, fake.timeouts)
	}
}

func TestOptionsForOneTypeNeverLeakIntoAnother(t *testing.T) {
	fake := newFake()
	m := build(t, fake.option(),
		locking.WithDistributedLocking[PlainInvoiceCommand, mediator.Unit](func(o *locking.Options) {
			o.DefaultTimeout = 0
			o.GlobalKeyPrefix = "tenant-a"
			o.DefaultThrowIfNotAcquired = false
		}),
		locking.WithDistributedLocking[UntaggedCommand, []string](),
		mediator.WithHandler[PlainInvoiceCommand, mediator.Unit](unitHandler[PlainInvoiceCommand]),
		mediator.WithHandler[UntaggedCommand, []string](heldKeys[UntaggedCommand]),
	)
	ctx := context.Background()
	if _, err := mediator.Send(ctx, m, PlainInvoiceCommand{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := mediator.Send(ctx, m, UntaggedCommand{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.timeouts["tenant-a:PlainInvoiceCommand:1"]; got != 0 {
		t.Fatalf("first type's timeout = %v, want 0", got)
	}
	if got, ok := fake.timeouts["UntaggedCommand:1"]; !ok || got != locking.DefaultTimeout {
		t.Fatalf("second type asked with %v (present %v), want the untouched default %v; keys %v", got, ok, locking.DefaultTimeout, fake.timeouts)
	}
	// The second type still throws: hold its key, then send again.
	fake.held["UntaggedCommand:1"] = true
	_, err := mediator.Send(ctx, m, UntaggedCommand{ID: "1"})
	if !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatalf("second type: err = %v, want ErrNotAcquired (throw stays true)", err)
	}
}

func TestMissingProviderFailsBuildSayingWhatToRegister(t *testing.T) {
	_, err := mediator.New(
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }),
	)
	if !errors.Is(err, locking.ErrNoProvider) {
		t.Fatalf("err = %v, want ErrNoProvider", err)
	}
	for _, want := range []string{"AccountCommand", "memory.WithInMemoryDistributedLocking()"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not mention %s", err, want)
		}
	}
}

func TestTwoProvidersFailBuild(t *testing.T) {
	_, err := mediator.New(
		memory.WithInMemoryDistributedLocking(),
		locking.WithNoOpLocking(),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }),
	)
	if err == nil || !strings.Contains(err.Error(), "locking.Provider") {
		t.Fatalf("err = %v, want a Build error about a second locking.Provider", err)
	}
}

func TestSecondRegistrationForOneTypeFailsBuild(t *testing.T) {
	_, err := mediator.New(
		locking.WithNoOpLocking(),
		locking.WithDistributedLocking[AccountCommand, int](),
		locking.WithDistributedLocking[AccountCommand, int](func(o *locking.Options) { o.DefaultTimeout = 0 }),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }),
	)
	if err == nil || !strings.Contains(err.Error(), "registered 2 times for locking_test.AccountCommand") {
		t.Fatalf("err = %v, want a duplicate registration error", err)
	}
	var be *mediator.BuildError
	if !errors.As(err, &be) || len(be.Problems) != 1 {
		t.Fatalf("err = %v, want exactly one problem", err)
	}
}

func TestKeyPrefixInGlobalDefaultsFailsBuild(t *testing.T) {
	for name, opt := range map[string]mediator.Option{
		"WithDefaults":                 locking.WithDefaults(func(o *locking.Options) { o.KeyPrefix = "x" }),
		"WithGlobalDistributedLocking": locking.WithGlobalDistributedLocking(func(o *locking.Options) { o.KeyPrefix = "x" }),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mediator.New(locking.WithNoOpLocking(), opt,
				locking.WithDistributedLocking[AccountCommand, int](),
				mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }))
			if err == nil || !strings.Contains(err.Error(), "KeyPrefix") || !strings.Contains(err.Error(), name) {
				t.Fatalf("err = %v, want a KeyPrefix error naming %s", err, name)
			}
		})
	}
}

func TestNegativeTimeoutFromARegistrationFailsBuild(t *testing.T) {
	_, err := mediator.New(locking.WithNoOpLocking(),
		locking.WithDistributedLocking[AccountCommand, int](func(o *locking.Options) { o.DefaultTimeout = -time.Second }),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }))
	// What the mediator puts before it (the type, the registration's line)
	// is the mediator's; the locking behavior's own words end the message.
	want := "locking: locking_test.AccountCommand: its options set a negative DefaultTimeout -1s: use 0 for one try that fails at once, or a positive wait"
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("err = %v, want it to end with %q", err, want)
	}
}

func TestSecondDefaultsOrGlobalRegistrationFailsBuild(t *testing.T) {
	for name, opt := range map[string]mediator.Option{
		"WithDefaults":                 locking.WithDefaults(),
		"WithGlobalDistributedLocking": locking.WithGlobalDistributedLocking(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mediator.New(locking.WithNoOpLocking(), opt, opt,
				mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 0, nil }))
			if err == nil || !strings.Contains(err.Error(), "already provided") {
				t.Fatalf("err = %v, want a Build error for the second %s", err, name)
			}
		})
	}
}
