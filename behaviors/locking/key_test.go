package locking_test

import (
	"context"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// sendKeys builds a mediator locking Req (configured by configure) and
// returns the keys Req's handler held.
func sendKeys[Req mediator.Message[[]string]](t *testing.T, req Req, configure ...func(*locking.Options)) string {
	t.Helper()
	m := build(t,
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[Req, []string](configure...),
		mediator.WithHandler[Req, []string](heldKeys[Req]),
	)
	keys, err := mediator.Send(context.Background(), m, req)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return joined(keys)
}

// observedKeys sends a WithdrawCommand (the example's, whose response is not
// a key list) and returns the keys an observer saw acquired.
func observedKeys(t *testing.T, req WithdrawCommand, configure ...func(*locking.Options)) string {
	t.Helper()
	rec := &recorder{}
	m := build(t,
		memory.WithInMemoryDistributedLocking(),
		locking.WithObserver(rec),
		locking.WithDistributedLocking[WithdrawCommand, WithdrawResult](configure...),
		mediator.WithHandler[WithdrawCommand, WithdrawResult](func(context.Context, WithdrawCommand) (WithdrawResult, error) {
			return WithdrawResult{}, nil
		}),
	)
	if _, err := mediator.Send(context.Background(), m, req); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var keys []string
	for _, e := range rec.events {
		if e.Outcome == locking.Acquired {
			keys = append(keys, e.Key)
		}
	}
	return joined(keys)
}

func TestFinalKeysAreExactlyAsDesigned(t *testing.T) {
	myapp := func(o *locking.Options) { o.GlobalKeyPrefix = "myapp" }
	cases := []struct {
		name string
		send func(t *testing.T) string
		want string
	}{
		{"type-wide lock is the type's name", func(t *testing.T) string {
			return sendKeys(t, RunDailyReportCommand{})
		}, "RunDailyReportCommand"},
		{"tag prefix and LockKey", func(t *testing.T) string {
			return sendKeys(t, ApproveInvoiceCommand{TenantID: "tenant-abc", InvoiceID: "invoice-123"})
		}, "invoice:tenant-abc:invoice-123"},
		{"global prefix, type name, LockKey", func(t *testing.T) string {
			return observedKeys(t, WithdrawCommand{AccountID: "42"}, myapp)
		}, "myapp:WithdrawCommand:42"},
		{"empty LockKey locks the whole type", func(t *testing.T) string {
			return observedKeys(t, WithdrawCommand{})
		}, "WithdrawCommand"},
		{"global prefix on a type-wide lock", func(t *testing.T) string {
			return sendKeys(t, RunDailyReportCommand{}, myapp)
		}, "myapp:RunDailyReportCommand"},
		{"composite key fields joined in field order", func(t *testing.T) string {
			return sendKeys(t, CompositeCommand{Tenant: "t1", Note: "ignored", Seq: -5, Urgent: true, Shard: 7, Account: 9})
		}, "CompositeCommand:t1:-5:true:7:acc-9"},
		{"key fields through a pointer message", func(t *testing.T) string {
			return sendKeys(t, &PointerCommand{ID: 12})
		}, "ptr:12"},
		{"nil pointer message locks the whole type", func(t *testing.T) string {
			return sendKeys[*PointerCommand](t, nil)
		}, "ptr"},
		{"LockKeys sorted and deduplicated", func(t *testing.T) string {
			return sendKeys(t, TransferKeysCommand{Accounts: []string{"B", "A", "B"}})
		}, "account:A account:B"},
		{"LockKeys empty locks the whole type", func(t *testing.T) string {
			return sendKeys(t, TransferKeysCommand{})
		}, "account"},
		{"KeyPrefix for a type that cannot be tagged", func(t *testing.T) string {
			return sendKeys(t, UntaggedCommand{ID: "7"}, func(o *locking.Options) { o.KeyPrefix = "legacy" })
		}, "legacy:7"},
		{"untagged type defaults to its name", func(t *testing.T) string {
			return sendKeys(t, UntaggedCommand{ID: "7"})
		}, "UntaggedCommand:7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.send(t); got != c.want {
				t.Fatalf("keys = %q, want %q", got, c.want)
			}
		})
	}
}

func TestFromContextGivesTheFirstKeyOfAMultiKeyLock(t *testing.T) {
	m := build(t,
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[TransferKeysCommand, []string](),
		mediator.WithHandler[TransferKeysCommand, []string](func(ctx context.Context, _ TransferKeysCommand) ([]string, error) {
			h, ok := locking.FromContext(ctx)
			if !ok {
				t.Error("FromContext: no handle inside the handler")
				return nil, nil
			}
			b, ok := locking.HandleFor(ctx, "account:Z")
			if !ok || b.Key() != "account:Z" {
				t.Errorf("HandleFor(account:Z) = %v, %v", b, ok)
			}
			if _, ok := locking.HandleFor(ctx, "account:Q"); ok {
				t.Error("HandleFor found a key that is not held")
			}
			return []string{h.Key()}, nil
		}),
	)
	got, err := mediator.Send(context.Background(), m, TransferKeysCommand{Accounts: []string{"Z", "M"}})
	if err != nil || joined(got) != "account:M" {
		t.Fatalf("Send = %q, %v; want account:M", got, err)
	}
	if _, ok := locking.FromContext(context.Background()); ok {
		t.Fatal("FromContext found a handle outside any handler")
	}
}
