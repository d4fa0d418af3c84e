package mediatortest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/mediator/mediatortest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type PlaceOrder struct {
	mediator.Command[string]
	Item string
}

type ReserveStock struct {
	mediator.Command[mediator.Unit]
	Item string
}

type OrderPlaced struct {
	mediator.Notification
	OrderID string
}

// placeOrder is the handler under test: it reserves stock, then publishes.
func placeOrder(m *mediator.Mediator) mediator.Handler[PlaceOrder, string] {
	return mediator.HandlerFunc[PlaceOrder, string](func(ctx context.Context, c PlaceOrder) (string, error) {
		if _, err := mediator.Send(ctx, m, ReserveStock{Item: c.Item}); err != nil {
			return "", err
		}
		id := "order-" + c.Item
		return id, mediator.Publish(ctx, m, OrderPlaced{OrderID: id})
	})
}

func build(t *testing.T, opts ...mediator.Option) *mediator.Mediator {
	t.Helper()
	m, err := mediator.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

func TestRecorderCapturesWhatAHandlerSentAndPublished(t *testing.T) {
	rec := mediatortest.NewRecorder()
	m := build(t, rec.Option(),
		mediator.WithHandler[PlaceOrder, string](placeOrder),
		mediatortest.Stub[ReserveStock](mediator.Unit{}, nil),
		mediatortest.Sink[OrderPlaced](),
	)
	id, err := mediator.Send(context.Background(), m, PlaceOrder{Item: "lamp"})
	if err != nil || id != "order-lamp" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	if got := mediatortest.SentOf[ReserveStock](rec); !slices.Equal(got, []ReserveStock{{Item: "lamp"}}) {
		t.Errorf("ReserveStock sent: %v", got)
	}
	if got := mediatortest.PublishedOf[OrderPlaced](rec); len(got) != 1 || got[0].OrderID != "order-lamp" {
		t.Errorf("OrderPlaced published: %v", got)
	}
	var kinds []string
	for _, r := range rec.Records() {
		kinds = append(kinds, r.Kind.String())
	}
	if want := []string{"sent", "sent", "published"}; !slices.Equal(kinds, want) {
		t.Errorf("records %v; want %v (PlaceOrder, ReserveStock, OrderPlaced)", kinds, want)
	}
	if r := rec.Records()[0]; r.Response != "order-lamp" || r.Err != nil {
		t.Errorf("PlaceOrder's record: response %v, error %v", r.Response, r.Err)
	}
	rec.Reset()
	if len(rec.Sent())+len(rec.Published()) != 0 {
		t.Error("Reset kept records")
	}
}

func TestRecorderRecordsErrors(t *testing.T) {
	rec := mediatortest.NewRecorder()
	errOut := errors.New("out of stock")
	m := build(t, rec.Option(),
		mediator.WithHandler[PlaceOrder, string](placeOrder),
		mediatortest.Stub[ReserveStock](mediator.Unit{}, errOut),
		mediatortest.Sink[OrderPlaced](),
	)
	if _, err := mediator.Send(context.Background(), m, PlaceOrder{Item: "lamp"}); !errors.Is(err, errOut) {
		t.Fatalf("Send = %v; want the stub's error", err)
	}
	recs := rec.Records()
	if len(recs) != 2 || !errors.Is(recs[1].Err, errOut) || len(rec.Published()) != 0 {
		t.Errorf("records %+v; want PlaceOrder and a failed ReserveStock, nothing published", recs)
	}
}

// LockedWithdraw is a locked command for the fault tests.
type LockedWithdraw struct {
	mediator.Command[int64]
	locking.DistributedLock `lock:"timeout=0"`
	AccountID               string
}

func (c LockedWithdraw) LockKey() string { return c.AccountID }

func lockedMediator(t *testing.T, p *mediatortest.LockProvider, h func(context.Context, LockedWithdraw) (int64, error)) *mediator.Mediator {
	return build(t, p.Option(),
		locking.WithDistributedLocking[LockedWithdraw, int64](),
		mediator.WithHandler[LockedWithdraw, int64](h))
}

func TestLockProviderContendNext(t *testing.T) {
	p := mediatortest.NewLockProvider()
	calls := 0
	m := lockedMediator(t, p, func(context.Context, LockedWithdraw) (int64, error) { calls++; return 1, nil })
	ctx := context.Background()
	p.ContendNext("LockedWithdraw:42")
	_, err := mediator.Send(ctx, m, LockedWithdraw{AccountID: "7"}) // another key: untouched
	if err != nil {
		t.Fatalf("Send on another key = %v", err)
	}
	_, err = mediator.Send(ctx, m, LockedWithdraw{AccountID: "42"})
	var le *locking.Error
	if !errors.As(err, &le) || !errors.Is(err, locking.ErrNotAcquired) || le.Key != "LockedWithdraw:42" {
		t.Errorf("Send = %v; want contention on LockedWithdraw:42", err)
	}
	if _, err := mediator.Send(ctx, m, LockedWithdraw{AccountID: "42"}); err != nil {
		t.Errorf("the fault applied twice: %v", err)
	}
	if calls != 2 {
		t.Errorf("handler ran %d times; want 2 (not under contention)", calls)
	}
	var outcomes []string
	for _, a := range p.Acquisitions() {
		outcomes = append(outcomes, a.Key+" "+a.Outcome.String())
	}
	if want := []string{"LockedWithdraw:7 granted", "LockedWithdraw:42 contended", "LockedWithdraw:42 granted"}; !slices.Equal(outcomes, want) {
		t.Errorf("acquisitions %v; want %v", outcomes, want)
	}
}

func TestLockProviderFailNext(t *testing.T) {
	p := mediatortest.NewLockProvider()
	m := lockedMediator(t, p, func(context.Context, LockedWithdraw) (int64, error) { return 1, nil })
	p.FailNext("", nil)
	_, err := mediator.Send(context.Background(), m, LockedWithdraw{AccountID: "42"})
	if !errors.Is(err, locking.ErrUnavailable) || !errors.Is(err, mediatortest.ErrInjected) || errors.Is(err, locking.ErrNotAcquired) {
		t.Errorf("Send = %v; want unavailability caused by ErrInjected", err)
	}
	cause := errors.New("dial tcp: connection refused")
	p.FailNext("LockedWithdraw:42", cause)
	if _, err := mediator.Send(context.Background(), m, LockedWithdraw{AccountID: "42"}); !errors.Is(err, cause) {
		t.Errorf("Send = %v; want the given cause", err)
	}
}

func TestLockProviderLoseNext(t *testing.T) {
	p := mediatortest.NewLockProvider()
	m := lockedMediator(t, p, func(ctx context.Context, _ LockedWithdraw) (int64, error) {
		<-ctx.Done()
		if !errors.Is(context.Cause(ctx), locking.ErrLockLost) {
			t.Errorf("cause = %v; want ErrLockLost", context.Cause(ctx))
		}
		return 0, ctx.Err()
	})
	p.LoseNext("LockedWithdraw:42")
	if _, err := mediator.Send(context.Background(), m, LockedWithdraw{AccountID: "42"}); !errors.Is(err, locking.ErrLockLost) {
		t.Errorf("Send = %v; want ErrLockLost", err)
	}
	if held := p.Held(); len(held) != 0 {
		t.Errorf("held after Send: %v", held)
	}
}

func TestLockProviderLoseWhileHandlerRuns(t *testing.T) {
	p := mediatortest.NewLockProvider()
	wrote := false
	m := lockedMediator(t, p, func(ctx context.Context, c LockedWithdraw) (int64, error) {
		if !p.Lose("LockedWithdraw:" + c.AccountID) {
			t.Error("Lose: the key is not held")
		}
		<-ctx.Done() // the handler notices the loss and does not write
		if ctx.Err() == nil {
			wrote = true
		}
		return 0, context.Cause(ctx)
	})
	if _, err := mediator.Send(context.Background(), m, LockedWithdraw{AccountID: "9"}); !errors.Is(err, locking.ErrLockLost) || wrote {
		t.Errorf("Send = %v (wrote: %v); want ErrLockLost and no write", err, wrote)
	}
	if p.Lose("LockedWithdraw:9") {
		t.Error("Lose after the handler returned reports a held key")
	}
}

func TestLockProviderExcludes(t *testing.T) {
	p := mediatortest.NewLockProvider()
	ctx := context.Background()
	h, err := p.TryAcquire(ctx, "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.TryAcquire(ctx, "k", 0); !errors.Is(err, locking.ErrNotAcquired) {
		t.Errorf("second TryAcquire = %v; want contention", err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Release(ctx); err != nil {
		t.Errorf("second Release = %v; want nil", err)
	}
	if held := p.Held(); len(held) != 0 {
		t.Errorf("held after Release: %v", held)
	}
}

func TestStubNamesTheTestsLine(t *testing.T) {
	_, err := mediator.New(
		mediatortest.Stub[ReserveStock](mediator.Unit{}, nil),
		mediatortest.Stub[ReserveStock](mediator.Unit{}, nil), // duplicate
	)
	if err == nil || !strings.Contains(err.Error(), "mediatortest_test.go") {
		t.Errorf("Build = %v; want the duplicate to point at this file", err)
	}
}
