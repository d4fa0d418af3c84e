package idempotency_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/idempotency"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// Withdraw is a deduplicated command: RequestKey is the client's key.
type Withdraw struct {
	mediator.Command[Balance]
	RequestKey string
	Account    string
	Amount     int64
}

func (c Withdraw) IdempotencyKey() string { return c.RequestKey }

// Deposit shares keys with Withdraw: the same key on both is a conflict.
type Deposit struct {
	mediator.Command[Balance]
	RequestKey string
	Account    string
	Amount     int64
}

func (c Deposit) IdempotencyKey() string { return c.RequestKey }

type Balance struct{ Cents int64 }

// ledger is a handler that counts what it applies; gate, when set, holds
// every call until it is closed, after signalling entered.
type ledger struct {
	mu      sync.Mutex
	balance int64
	applied atomic.Int64
	fail    error
	panics  bool
	entered chan struct{}
	gate    chan struct{}
}

func (l *ledger) withdraw(_ context.Context, c Withdraw) (Balance, error) {
	if l.gate != nil {
		l.entered <- struct{}{}
		<-l.gate
	}
	if l.panics {
		panic("handler blew up")
	}
	if l.fail != nil {
		return Balance{}, l.fail
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.applied.Add(1)
	l.balance -= c.Amount
	return Balance{Cents: l.balance}, nil
}

func newMediator(t *testing.T, store idempotency.Store, l *ledger, configure ...func(*idempotency.Options)) *mediator.Mediator {
	t.Helper()
	m, err := mediator.New(
		idempotency.WithStore(store),
		idempotency.WithIdempotency[Withdraw, Balance](configure...),
		idempotency.WithIdempotency[Deposit, Balance](),
		mediator.WithHandler[Withdraw, Balance](mediator.HandlerFunc[Withdraw, Balance](l.withdraw)),
		mediator.WithHandler[Deposit, Balance](mediator.HandlerFunc[Deposit, Balance](func(context.Context, Deposit) (Balance, error) {
			return Balance{Cents: 1}, nil
		})),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

func TestSameKeySameRequestReturnsTheFirstAnswer(t *testing.T) {
	l := &ledger{balance: 1000}
	m := newMediator(t, idempotency.NewMemoryStore(nil), l)
	ctx := context.Background()
	cmd := Withdraw{RequestKey: "k1", Account: "a", Amount: 100}
	first, err := mediator.Send(ctx, m, cmd)
	if err != nil || first.Cents != 900 {
		t.Fatalf("first Send = %+v, %v", first, err)
	}
	var rep idempotency.Report
	again, err := mediator.Send(idempotency.WithReport(ctx, &rep), m, cmd)
	if err != nil || again != first || !rep.Replayed {
		t.Fatalf("retry = %+v, %v, replayed %v; want %+v, nil, true", again, err, rep.Replayed, first)
	}
	if n := l.applied.Load(); n != 1 {
		t.Fatalf("applied %d times, want 1", n)
	}
	// Another key is another request.
	if res, err := mediator.Send(ctx, m, Withdraw{RequestKey: "k2", Account: "a", Amount: 100}); err != nil || res.Cents != 800 {
		t.Fatalf("new key: %+v, %v", res, err)
	}
	// No key: no deduplication.
	for range 2 {
		if _, err := mediator.Send(ctx, m, Withdraw{Account: "a", Amount: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.applied.Load(); n != 4 {
		t.Fatalf("applied %d times, want 4", n)
	}
}

func TestSameKeyOtherRequestIsAConflict(t *testing.T) {
	l := &ledger{balance: 1000}
	m := newMediator(t, idempotency.NewMemoryStore(nil), l)
	ctx := context.Background()
	if _, err := mediator.Send(ctx, m, Withdraw{RequestKey: "k", Account: "a", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	for _, send := range []func() error{
		func() error {
			_, err := mediator.Send(ctx, m, Withdraw{RequestKey: "k", Account: "a", Amount: 101})
			return err
		},
		func() error {
			_, err := mediator.Send(ctx, m, Withdraw{RequestKey: "k", Account: "b", Amount: 100})
			return err
		},
		func() error {
			_, err := mediator.Send(ctx, m, Deposit{RequestKey: "k", Account: "a", Amount: 100})
			return err
		},
	} {
		err := send()
		var ce *idempotency.ConflictError
		if !errors.Is(err, idempotency.ErrKeyReused) || !errors.As(err, &ce) || ce.Key != "k" {
			t.Fatalf("reused key: %v, want a *ConflictError for k", err)
		}
	}
	if n := l.applied.Load(); n != 1 {
		t.Fatalf("applied %d times, want 1", n)
	}
}

// TestConcurrentDuplicatesApplyOnce: while the first request is inside its
// handler, duplicates are refused as in progress; once it is done they get
// its answer. The handler runs once.
func TestConcurrentDuplicatesApplyOnce(t *testing.T) {
	l := &ledger{balance: 1000, entered: make(chan struct{}, 1), gate: make(chan struct{})}
	m := newMediator(t, idempotency.NewMemoryStore(nil), l)
	ctx := context.Background()
	cmd := Withdraw{RequestKey: "k", Account: "a", Amount: 100}
	first := make(chan error, 1)
	go func() { _, err := mediator.Send(ctx, m, cmd); first <- err }()
	<-l.entered
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() { _, err := mediator.Send(ctx, m, cmd); errs <- err })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		var ip *idempotency.InProgressError
		if !errors.Is(err, idempotency.ErrInProgress) || !errors.As(err, &ip) || ip.Key != "k" {
			t.Fatalf("duplicate in flight: %v, want *InProgressError", err)
		}
	}
	close(l.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	l.gate = nil
	if res, err := mediator.Send(ctx, m, cmd); err != nil || res.Cents != 900 {
		t.Fatalf("after the first finished: %+v, %v", res, err)
	}
	if n := l.applied.Load(); n != 1 {
		t.Fatalf("applied %d times, want 1", n)
	}
}

func TestFailedRequestFreesTheKey(t *testing.T) {
	errBusy := errors.New("busy")
	l := &ledger{balance: 1000, fail: errBusy}
	m := newMediator(t, idempotency.NewMemoryStore(nil), l)
	ctx := context.Background()
	cmd := Withdraw{RequestKey: "k", Account: "a", Amount: 100}
	if _, err := mediator.Send(ctx, m, cmd); !errors.Is(err, errBusy) {
		t.Fatalf("failing handler: %v", err)
	}
	l.fail = nil
	if res, err := mediator.Send(ctx, m, cmd); err != nil || res.Cents != 900 {
		t.Fatalf("retry after a failure: %+v, %v; want the handler to run", res, err)
	}
}

func TestPanicFreesTheKey(t *testing.T) {
	l := &ledger{balance: 1000, panics: true}
	m := newMediator(t, idempotency.NewMemoryStore(nil), l)
	cmd := Withdraw{RequestKey: "k", Account: "a", Amount: 100}
	func() {
		defer func() { _ = recover() }()
		_, err := mediator.Send(context.Background(), m, cmd)
		var pe *mediator.PanicError
		if !errors.As(err, &pe) {
			t.Fatalf("panicking handler: %v", err)
		}
	}()
	l.panics = false
	if res, err := mediator.Send(context.Background(), m, cmd); err != nil || res.Cents != 900 {
		t.Fatalf("retry after a panic: %+v, %v", res, err)
	}
}

// TestAnswersExpireAfterTTL and a claim whose lease ran out (its owner
// died) lets the next request run.
func TestAnswersExpireAfterTTLAndClaimsAfterLease(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	store := idempotency.NewMemoryStore(&idempotency.MemoryOptions{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	l := &ledger{balance: 1000}
	m := newMediator(t, store, l, func(o *idempotency.Options) { o.TTL = time.Hour; o.Lease = time.Minute })
	ctx := context.Background()
	cmd := Withdraw{RequestKey: "k", Account: "a", Amount: 100}
	if _, err := mediator.Send(ctx, m, cmd); err != nil {
		t.Fatal(err)
	}
	now.Add(int64(59 * time.Minute))
	if res, _ := mediator.Send(ctx, m, cmd); res.Cents != 900 || l.applied.Load() != 1 {
		t.Fatalf("within the TTL: %+v, applied %d", res, l.applied.Load())
	}
	now.Add(int64(2 * time.Minute))
	if res, _ := mediator.Send(ctx, m, cmd); res.Cents != 800 || l.applied.Load() != 2 {
		t.Fatalf("after the TTL: %+v, applied %d; want the handler to run again", res, l.applied.Load())
	}

	// A claim left by a crashed owner.
	if _, ok, _ := store.Claim(ctx, "dead", idempotency.Record{Fingerprint: "x", Token: "t"}, time.Minute); !ok {
		t.Fatal("claim refused")
	}
	if _, ok, _ := store.Claim(ctx, "dead", idempotency.Record{Fingerprint: "x", Token: "u"}, time.Minute); ok {
		t.Fatal("a live claim was taken over")
	}
	now.Add(int64(time.Minute))
	if _, ok, _ := store.Claim(ctx, "dead", idempotency.Record{Fingerprint: "x", Token: "u"}, time.Minute); !ok {
		t.Fatal("a claim whose lease ran out still holds the key")
	}
}

func TestMemoryStoreSweepsExpiredRecords(t *testing.T) {
	var now atomic.Int64
	store := idempotency.NewMemoryStore(&idempotency.MemoryOptions{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	ctx := context.Background()
	for i := range 5000 {
		key := string(rune('a'+i%26)) + time.Duration(i).String()
		if _, _, err := store.Claim(ctx, key, idempotency.Record{Token: "t"}, time.Second); err != nil {
			t.Fatal(err)
		}
		now.Add(int64(time.Millisecond))
	}
	// 5,000 claims of 1s each, 1ms apart: at most ~1,000 are alive, plus
	// what arrived since the last sweep.
	if n := store.Len(); n > 1000+1024 {
		t.Fatalf("%d records held; expired ones are not swept", n)
	}
}

func TestBadKeysAndMissingStore(t *testing.T) {
	l := &ledger{balance: 1000}
	m := newMediator(t, idempotency.NewMemoryStore(nil), l)
	for _, key := range []string{"has space", "tab\t", "é", string(make([]byte, idempotency.MaxKeyLength+1))} {
		_, err := mediator.Send(context.Background(), m, Withdraw{RequestKey: key, Amount: 1})
		var ke *idempotency.KeyError
		if !errors.As(err, &ke) {
			t.Errorf("key %q: %v, want *KeyError", key, err)
		}
	}
	if l.applied.Load() != 0 {
		t.Fatal("a request with a bad key ran")
	}
	_, err := mediator.New(
		idempotency.WithIdempotency[Withdraw, Balance](),
		mediator.WithHandler[Withdraw, Balance](mediator.HandlerFunc[Withdraw, Balance](l.withdraw)),
	)
	if !errors.Is(err, idempotency.ErrNoStore) {
		t.Fatalf("Build without a store: %v, want ErrNoStore", err)
	}
}

type failingStore struct{ idempotency.Store }

var errDown = errors.New("store down")

func (failingStore) Claim(context.Context, string, idempotency.Record, time.Duration) (idempotency.Record, bool, error) {
	return idempotency.Record{}, false, errDown
}

func TestStoreFailureIsUnavailableAndRunsNothing(t *testing.T) {
	l := &ledger{balance: 1000}
	m := newMediator(t, failingStore{}, l)
	_, err := mediator.Send(context.Background(), m, Withdraw{RequestKey: "k", Amount: 1})
	if !errors.Is(err, idempotency.ErrUnavailable) || !errors.Is(err, errDown) {
		t.Fatalf("store down: %v, want ErrUnavailable wrapping the cause", err)
	}
	if l.applied.Load() != 0 {
		t.Fatal("the handler ran without its key checked")
	}
}
