package locking_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// TestContendedEventNamesHolder: when the provider's contention error is a
// *HeldError (wrapped or not), the Contended event carries a copy of its
// holder, while the caller still gets *locking.Error matching
// ErrNotAcquired, as without it.
func TestContendedEventNamesHolder(t *testing.T) {
	since := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	for _, wrap := range []bool{false, true} {
		t.Run(fmt.Sprintf("wrapped=%v", wrap), func(t *testing.T) {
			fake, rec := newFake(), &recorder{}
			held := &locking.HeldError{Key: "account:1", Holder: locking.Holder{
				Instance: "host-b:7", MessageType: "bank.WithdrawCommand", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Since: since}}
			fake.fail = held
			if wrap {
				fake.fail = fmt.Errorf("provider: %w", held)
			}
			m := build(t, fake.option(), locking.WithObserver(rec),
				locking.WithDistributedLocking[AccountCommand, int](),
				mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 1, nil }))

			_, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"})
			lerr, ok := errors.AsType[*locking.Error](err)
			if !ok || lerr.Key != "account:1" || !errors.Is(err, locking.ErrNotAcquired) {
				t.Fatalf("Send: %v, want *locking.Error for account:1 matching ErrNotAcquired", err)
			}
			held.Holder.Instance = "changed after the event"
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.events) != 1 || rec.events[0].Outcome != locking.Contended {
				t.Fatalf("events %+v, want one Contended", rec.events)
			}
			e := rec.events[0]
			want := locking.Holder{Instance: "host-b:7", MessageType: "bank.WithdrawCommand", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Since: since}
			if e.Holder == nil || *e.Holder != want {
				t.Fatalf("Holder %+v, want %+v", e.Holder, want)
			}
			if e.Acquirer.MessageType != "locking_test.AccountCommand" {
				t.Fatalf("Acquirer %+v", e.Acquirer)
			}
		})
	}
}

// TestContendedEventWithoutHolder: a bare ErrNotAcquired names nobody.
func TestContendedEventWithoutHolder(t *testing.T) {
	fake, rec := newFake(), &recorder{}
	fake.held["account:1"] = true
	m := build(t, fake.option(), locking.WithObserver(rec),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 1, nil }))
	if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"}); !errors.Is(err, locking.ErrNotAcquired) {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != 1 || rec.events[0].Outcome != locking.Contended || rec.events[0].Holder != nil {
		t.Fatalf("events %+v, want one Contended without a holder", rec.events)
	}
}

// TestEventsNameTheAcquirer: every event names the message type; Acquired
// also the Send's trace when WithTraceIdentity is registered.
func TestEventsNameTheAcquirer(t *testing.T) {
	rec := &recorder{}
	type spanKey struct{}
	m := build(t, memory.WithInMemoryDistributedLocking(), locking.WithObserver(rec),
		locking.WithTraceIdentity(func(ctx context.Context) (string, string) {
			if s, ok := ctx.Value(spanKey{}).(string); ok {
				return "trace-" + s, "span-" + s
			}
			return "", ""
		}),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 1, nil }))
	ctx := context.WithValue(context.Background(), spanKey{}, "x")
	if _, err := mediator.Send(ctx, m, AccountCommand{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []locking.Acquirer{
		{MessageType: "locking_test.AccountCommand", TraceID: "trace-x", SpanID: "span-x"}, // acquired
		{MessageType: "locking_test.AccountCommand"},                                       // released
	}
	if len(rec.events) != len(want) {
		t.Fatalf("events %+v", rec.events)
	}
	for i, e := range rec.events {
		if e.Acquirer != want[i] {
			t.Errorf("%s: Acquirer %+v, want %+v", e.Outcome, e.Acquirer, want[i])
		}
	}
}

// waitRecorder is a WaitObserver that logs starts, ends and outcomes in
// order, and signals each start.
type waitRecorder struct {
	mu      sync.Mutex
	log     []string
	open    map[*locking.Wait]bool
	started chan *locking.Wait
	panicAt string // WaitEnded panics for this key
}

func newWaitRecorder() *waitRecorder {
	return &waitRecorder{open: map[*locking.Wait]bool{}, started: make(chan *locking.Wait, 16)}
}

func (r *waitRecorder) ObserveLock(e locking.LockEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, e.Outcome.String()+" "+e.Key)
}

func (r *waitRecorder) WaitStarted(_ context.Context, w *locking.Wait) {
	r.mu.Lock()
	r.log = append(r.log, "wait "+w.Key)
	r.open[w] = true
	r.mu.Unlock()
	r.started <- w
}

func (r *waitRecorder) WaitEnded(_ context.Context, w *locking.Wait) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.open[w] {
		r.log = append(r.log, "end of an unknown wait "+w.Key)
	}
	delete(r.open, w)
	r.log = append(r.log, "end "+w.Key)
	if w.Key == r.panicAt {
		panic("observer panic")
	}
}

func (r *waitRecorder) entries() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// TestWaitObserverSeesEachWait: a WaitObserver hears a wait start before
// the provider is asked (the second caller is reported while it still
// waits) and end before the outcome, with the same *Wait; each key of a
// multi-key message is a wait of its own, and a key borrowed from the
// enclosing Send is no wait at all.
func TestWaitObserverSeesEachWait(t *testing.T) {
	rec := newWaitRecorder()
	entered, leave := make(chan struct{}, 1), make(chan struct{})
	var m *mediator.Mediator
	m = build(t, memory.WithInMemoryDistributedLocking(), locking.WithObserver(rec),
		locking.WithDistributedLocking[AccountCommand, int](),
		locking.WithDistributedLocking[TransferKeysCommand, []string](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, c AccountCommand) (int, error) {
			if c.ID == "hold" {
				entered <- struct{}{}
				<-leave
			}
			return 1, nil
		}),
		mediator.WithHandler[TransferKeysCommand, []string](func(ctx context.Context, c TransferKeysCommand) ([]string, error) {
			// Re-entry: account:a is held by this Send already.
			_, err := mediator.Send(ctx, m, AccountCommand{ID: "a"})
			return nil, err
		}))
	ctx := context.Background()

	first := make(chan error, 1)
	go func() { _, err := mediator.Send(ctx, m, AccountCommand{ID: "hold"}); first <- err }()
	if w := <-rec.started; w.Key != "account:hold" || w.Prefix != "account" || w.Timeout != 30*time.Second ||
		w.Acquirer.MessageType != "locking_test.AccountCommand" {
		t.Fatalf("first wait %+v", w)
	}
	<-entered
	second := make(chan error, 1)
	go func() { _, err := mediator.Send(ctx, m, AccountCommand{ID: "hold"}); second <- err }()
	<-rec.started // the second caller waits now
	rec.mu.Lock()
	waiting := len(rec.open)
	rec.mu.Unlock()
	if waiting != 1 {
		t.Fatalf("%d open waits while the second caller waits, want 1", waiting)
	}
	close(leave)
	for _, c := range []chan error{first, second} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mediator.Send(ctx, m, TransferKeysCommand{Accounts: []string{"b", "a"}}); err != nil {
		t.Fatal(err)
	}
	log := rec.entries()
	if len(log) != 16 {
		t.Fatalf("log %q, want 16 entries", log)
	}
	// The first caller's release is reported on its goroutine, while the
	// second one may already have its lock: leave it out of the order.
	handoff := append([]string(nil), log[4:8]...)
	for i, e := range handoff {
		if e == "released account:hold" {
			handoff = append(handoff[:i], handoff[i+1:]...)
			break
		}
	}
	got := fmt.Sprint(log[:4], handoff, log[8:])
	want := fmt.Sprint(
		[]string{"wait account:hold", "end account:hold", "acquired account:hold", "wait account:hold"},
		[]string{"end account:hold", "acquired account:hold", "released account:hold"},
		[]string{
			"wait account:a", "end account:a", "acquired account:a",
			"wait account:b", "end account:b", "acquired account:b",
			"released account:b", "released account:a",
		})
	if got != want {
		t.Fatalf("log\n%q\nwant\n%s", log, want)
	}
}

// TestWaitObserverPanicReleasesLock: a WaitObserver that panics once the
// lock is granted does not keep it: the panic goes on up, and the key is
// free for the next caller at once.
func TestWaitObserverPanicReleasesLock(t *testing.T) {
	for _, name := range []string{"memory", "fake"} {
		t.Run(name, func(t *testing.T) {
			rec := newWaitRecorder()
			rec.panicAt = "account:1"
			var provider mediator.Option = memory.WithInMemoryDistributedLocking()
			if name == "fake" {
				provider = newFake().option()
			}
			calls := &counter{}
			m := build(t, provider, locking.WithObserver(rec),
				locking.WithDistributedLocking[AccountCommand, int](func(o *locking.Options) { o.DefaultTimeout = 0 }),
				mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) {
					calls.n.Add(1)
					return 1, nil
				}))
			func() {
				defer func() {
					if p := recover(); p != "observer panic" {
						t.Fatalf("recovered %v, want the observer's panic", p)
					}
				}()
				_, _ = mediator.Send(context.Background(), m, AccountCommand{ID: "1"})
			}()
			rec.panicAt = ""
			// Timeout 0: one try, so a key left held fails at once.
			if _, err := mediator.Send(context.Background(), m, AccountCommand{ID: "1"}); err != nil {
				t.Fatalf("after the panic: %v", err)
			}
			if calls.get() != 1 {
				t.Fatalf("handler ran %d times, want 1 (not under the panicking Send)", calls.get())
			}
		})
	}
}
