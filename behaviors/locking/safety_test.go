package locking_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// Point 1: the marker and its tag are found where Go's promotion rules find
// them, through value and pointer embedding at any depth.

type accountBase struct {
	locking.DistributedLock `lock:"prefix=account,timeout=30s"`
}

type accountBaseDeeper struct{ accountBase }

type WithdrawViaBase struct {
	mediator.Command[[]string]
	accountBase
	ID string
}

func (c WithdrawViaBase) LockKey() string { return c.ID }

type WithdrawViaPointerBase struct {
	mediator.Command[[]string]
	*accountBaseDeeper
	ID string
}

func (c WithdrawViaPointerBase) LockKey() string { return c.ID }

// ShadowedMarker has its own marker above the base's: Go promotes the
// shallower one, and so does the tag.
type ShadowedMarker struct {
	mediator.Command[[]string]
	locking.DistributedLock `lock:"prefix=own"`
	accountBase
}

func TestMarkerInAnEmbeddedStructIsFoundWithItsTag(t *testing.T) {
	if got := sendKeys(t, WithdrawViaBase{ID: "42"}); got != "account:42" {
		t.Errorf("value-embedded base: key %q, want account:42", got)
	}
	if got := sendKeys(t, WithdrawViaPointerBase{accountBaseDeeper: &accountBaseDeeper{}, ID: "42"}); got != "account:42" {
		t.Errorf("pointer-embedded base two levels down: key %q, want account:42", got)
	}
	if got := sendKeys(t, ShadowedMarker{}); got != "own" {
		t.Errorf("shallower marker: key %q, want own", got)
	}
}

func TestGlobalLockingFindsAMarkerInAnEmbeddedStruct(t *testing.T) {
	var inside, overlaps atomic.Int32
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	m := build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithGlobalDistributedLocking(),
		mediator.WithHandler[WithdrawViaBase, []string](func(ctx context.Context, c WithdrawViaBase) ([]string, error) {
			if inside.Add(1) > 1 {
				overlaps.Add(1)
			}
			entered <- struct{}{}
			<-release
			inside.Add(-1)
			return heldKeys(ctx, c)
		}))
	var wg sync.WaitGroup
	keys := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			got, err := mediator.Send(context.Background(), m, WithdrawViaBase{ID: "42"})
			if err != nil {
				t.Error(err)
			}
			keys <- joined(got)
		})
	}
	for range 4 {
		<-entered // one at a time: the next enters only after a release
		release <- struct{}{}
	}
	wg.Wait()
	close(keys)
	for k := range keys {
		if k != "account:42" {
			t.Fatalf("global locking held %q, want account:42", k)
		}
	}
	if overlaps.Load() != 0 {
		t.Fatalf("%d withdrawals ran while another held the account", overlaps.Load())
	}
}

type twoBasesA struct {
	locking.DistributedLock `lock:"prefix=a"`
}
type twoBasesB struct {
	locking.DistributedLock `lock:"prefix=b"`
}

// AmbiguousMarker carries two markers at one depth: Go promotes neither.
type AmbiguousMarker struct {
	mediator.Command[mediator.Unit]
	twoBasesA
	twoBasesB
}

func TestTwoMarkersAtOneDepthFailBuild(t *testing.T) {
	err := buildTagged[AmbiguousMarker]()
	var te *locking.TagError
	if !errors.As(err, &te) {
		t.Fatalf("Build = %v, want a *TagError", err)
	}
	want := `locking: locking_test.AmbiguousMarker.twoBasesA.DistributedLock: lock tag "twoBasesB.DistributedLock": the type carries the DistributedLock marker twice at the same depth (twoBasesA.DistributedLock, twoBasesB.DistributedLock): keep one`
	if te.Error() != want {
		t.Fatalf("error\n%s\nwant\n%s", te, want)
	}
}

// Point 3: LockKey on the pointer receiver of a registered value type.

type PointerReceiverKey struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
	ID string
}

func (c *PointerReceiverKey) LockKey() string { return c.ID }

type PointerReceiverKeys struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
	IDs []string
}

func (c *PointerReceiverKeys) LockKeys() []string { return c.IDs }

func TestKeyMethodOnThePointerOfARegisteredValueTypeFailsBuild(t *testing.T) {
	for _, c := range []struct {
		build func() error
		want  string
	}{
		{buildTagged[PointerReceiverKey], "locking: locking_test.PointerReceiverKey: LockKey has a pointer receiver, so the registered value type locking_test.PointerReceiverKey does not have it and every message would share one lock: declare it on the value, func (c PointerReceiverKey) LockKey() string, or register and send *locking_test.PointerReceiverKey"},
		{buildTagged[PointerReceiverKeys], "locking: locking_test.PointerReceiverKeys: LockKeys has a pointer receiver, so the registered value type locking_test.PointerReceiverKeys does not have it and every message would share one lock: declare it on the value, func (c PointerReceiverKeys) LockKeys() []string, or register and send *locking_test.PointerReceiverKeys"},
	} {
		err := c.build()
		var ke *locking.KeyMethodError
		if !errors.As(err, &ke) {
			t.Fatalf("Build = %v, want a *KeyMethodError", err)
		}
		if ke.Error() != c.want {
			t.Errorf("error\n%s\nwant\n%s", ke, c.want)
		}
	}
}

func TestKeyMethodOnThePointerWorksWhenThePointerIsRegistered(t *testing.T) {
	fake := newFake()
	m := build(t, fake.option(),
		locking.WithDistributedLocking[*PointerReceiverKey, mediator.Unit](),
		mediator.WithHandler[*PointerReceiverKey, mediator.Unit](unitHandler[*PointerReceiverKey]))
	if _, err := mediator.Send(context.Background(), m, &PointerReceiverKey{ID: "7"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.timeouts["PointerReceiverKey:7"]; !ok {
		t.Fatalf("keys asked for: %v, want PointerReceiverKey:7", fake.timeouts)
	}
}

// Point 5: composite keys escape ':' and '\' in each part.

type DocCommand struct {
	mediator.Command[[]string]
	locking.DistributedLock `lock:"prefix=doc"`
	Tenant                  string    `lock:"key"`
	ID                      string    `lock:"key"`
	Ref                     accountID `lock:"key"`
}

type InvoiceFields struct {
	mediator.Command[[]string]
	locking.DistributedLock `lock:"prefix=invoice"`
	Tenant                  string `lock:"key"`
	Invoice                 string `lock:"key"`
}

func TestCompositeKeyPartsAreEscaped(t *testing.T) {
	for _, c := range []struct {
		req  DocCommand
		want string
	}{
		{DocCommand{Tenant: "a:b", ID: "c", Ref: 1}, `doc:a\:b:c:acc-1`},
		{DocCommand{Tenant: "a", ID: "b:c", Ref: 1}, `doc:a:b\:c:acc-1`},
		{DocCommand{Tenant: `a\`, ID: ":c", Ref: 1}, `doc:a\\:\:c:acc-1`},
		{DocCommand{Tenant: `a\:`, ID: "c", Ref: 1}, `doc:a\\\::c:acc-1`},
	} {
		if got := sendKeys(t, c.req); got != c.want {
			t.Errorf("%+v: key %s, want %s", c.req, got, c.want)
		}
	}
	if got := sendKeys(t, InvoiceFields{Tenant: "tenant-abc", Invoice: "invoice-123"}); got != "invoice:tenant-abc:invoice-123" {
		t.Errorf("plain parts: key %s, want invoice:tenant-abc:invoice-123", got)
	}
}

func TestCompositeKeysOfDifferentPartsNeverCollide(t *testing.T) {
	// Through the global behavior too, which builds keys from a boxed copy.
	m := build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithGlobalDistributedLocking(),
		mediator.WithHandler[InvoiceFields, []string](heldKeys[InvoiceFields]))
	a, err := mediator.Send(context.Background(), m, InvoiceFields{Tenant: "a:b", Invoice: "c"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := mediator.Send(context.Background(), m, InvoiceFields{Tenant: "a", Invoice: "b:c"})
	if err != nil {
		t.Fatal(err)
	}
	if joined(a) == joined(b) {
		t.Fatalf("both messages lock %s", joined(a))
	}
}

// Point 8: nil inputs are an error, never a panic; the handler does not run
// and nothing is held.

type ValueKeyCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
	ID string
}

func (c ValueKeyCommand) LockKey() string { return c.ID }

type ValueKeysCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
	IDs []string
}

func (c ValueKeysCommand) LockKeys() []string { return c.IDs }

type refKey struct{}

func (r *refKey) String() string { return "ref" }

type StringerFieldCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock
	Account fmt.Stringer `lock:"key"`
	Ref     *refKey      `lock:"key"`
}

func TestNilInputsAreAnErrorNotAPanic(t *testing.T) {
	var ran atomic.Int32
	run := func(context.Context, any) { ran.Add(1) }
	fake := newFake()
	m := build(t, fake.option(),
		locking.WithDistributedLocking[*ValueKeyCommand, mediator.Unit](),
		locking.WithDistributedLocking[*ValueKeysCommand, mediator.Unit](),
		locking.WithDistributedLocking[StringerFieldCommand, mediator.Unit](),
		mediator.WithHandler[*ValueKeyCommand, mediator.Unit](func(ctx context.Context, c *ValueKeyCommand) (mediator.Unit, error) {
			run(ctx, c)
			return mediator.Unit{}, nil
		}),
		mediator.WithHandler[*ValueKeysCommand, mediator.Unit](func(ctx context.Context, c *ValueKeysCommand) (mediator.Unit, error) {
			run(ctx, c)
			return mediator.Unit{}, nil
		}),
		mediator.WithHandler[StringerFieldCommand, mediator.Unit](func(ctx context.Context, c StringerFieldCommand) (mediator.Unit, error) {
			run(ctx, c)
			return mediator.Unit{}, nil
		}))
	global := build(t, fake.option(),
		locking.WithGlobalDistributedLocking(),
		mediator.WithHandler[*ValueKeyCommand, mediator.Unit](func(ctx context.Context, c *ValueKeyCommand) (mediator.Unit, error) {
			run(ctx, c)
			return mediator.Unit{}, nil
		}),
		mediator.WithHandler[StringerFieldCommand, mediator.Unit](func(ctx context.Context, c StringerFieldCommand) (mediator.Unit, error) {
			run(ctx, c)
			return mediator.Unit{}, nil
		}))
	ctx := context.Background()
	for _, c := range []struct {
		name string
		send func() error
		want string
	}{
		{"nil *T, LockKey on the value", func() error { _, err := mediator.Send(ctx, m, (*ValueKeyCommand)(nil)); return err },
			"locking: cannot make the lock key of *locking_test.ValueKeyCommand: the message is a nil pointer and its LockKey method has a value receiver: send a non-nil *locking_test.ValueKeyCommand"},
		{"nil *T, LockKeys on the value", func() error { _, err := mediator.Send(ctx, m, (*ValueKeysCommand)(nil)); return err },
			"locking: cannot make the lock key of *locking_test.ValueKeysCommand: the message is a nil pointer and its LockKeys method has a value receiver: send a non-nil *locking_test.ValueKeysCommand"},
		{"nil fmt.Stringer field", func() error { _, err := mediator.Send(ctx, m, StringerFieldCommand{Ref: &refKey{}}); return err },
			"locking: cannot make the lock key of locking_test.StringerFieldCommand: its key field Account is a nil fmt.Stringer: set it before sending"},
		{"nil pointer Stringer field", func() error {
			_, err := mediator.Send(ctx, m, StringerFieldCommand{Account: accountID(1)})
			return err
		}, "locking: cannot make the lock key of locking_test.StringerFieldCommand: its key field Ref is a nil *locking_test.refKey: set it before sending"},
		{"global: nil *T", func() error { _, err := mediator.Send(ctx, global, (*ValueKeyCommand)(nil)); return err },
			"locking: cannot make the lock key of *locking_test.ValueKeyCommand: the message is a nil pointer and its LockKey method has a value receiver: send a non-nil *locking_test.ValueKeyCommand"},
		{"global: nil fmt.Stringer field", func() error { _, err := mediator.Send(ctx, global, StringerFieldCommand{Ref: &refKey{}}); return err },
			"locking: cannot make the lock key of locking_test.StringerFieldCommand: its key field Account is a nil fmt.Stringer: set it before sending"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("Send panicked: %v", p)
					}
				}()
				err = c.send()
			}()
			var ke *locking.KeyError
			if !errors.Is(err, locking.ErrNoKey) || !errors.As(err, &ke) || err.Error() != c.want {
				t.Fatalf("err =\n%v\nwant\n%s", err, c.want)
			}
		})
	}
	if n := ran.Load(); n != 0 {
		t.Fatalf("handlers ran %d times", n)
	}
	if n := fake.heldCount(); n != 0 {
		t.Fatalf("%d keys held", n)
	}
}

type ManyBadWords struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=,timeout=soon,colour=red,throw=maybe"`
}

func TestEveryBadWordOfATagIsReportedAtOnce(t *testing.T) {
	err := buildTagged[ManyBadWords]()
	var te *locking.TagError
	if !errors.As(err, &te) {
		t.Fatalf("Build = %v, want a *TagError", err)
	}
	want := `locking: locking_test.ManyBadWords.DistributedLock: 4 bad words in the lock tag: ` +
		`"prefix=": empty prefix: name one (prefix=account) or drop the word for the type's name; ` +
		`"timeout=soon": timeout must be a Go duration (15s, 250ms) or whole seconds; ` +
		`"colour=red": unknown word "colour" (want prefix, timeout or throw); ` +
		`"throw=maybe": throw must be true or false`
	if te.Error() != want {
		t.Fatalf("error\n%s\nwant\n%s", te, want)
	}
}
