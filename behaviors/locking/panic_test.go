package locking_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// An observer or log handler that panics must never leave a key held; the
// panic goes on up to the caller of Send, on the caller's goroutine.

type observerPanic struct{ at locking.Outcome }

// panicAt returns an observer that panics at the first event with outcome at.
func panicAt(at locking.Outcome) locking.Observer {
	var once atomic.Bool
	return locking.ObserverFunc(func(e locking.LockEvent) {
		if e.Outcome == at && once.CompareAndSwap(false, true) {
			panic(observerPanic{at})
		}
	})
}

// sendRecovering sends c and returns what Send panicked with.
func sendRecovering[Req mediator.Message[Res], Res any](m *mediator.Mediator, c Req) (p any) {
	defer func() { p = recover() }()
	_, _ = mediator.Send(context.Background(), m, c)
	return nil
}

func TestPanickingObserverLeavesNoKeyHeld(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   locking.Outcome
		send func(*mediator.Mediator) any
		prep func(*fakeProvider)
	}{
		{"acquired", locking.Acquired, func(m *mediator.Mediator) any { return sendRecovering(m, AccountCommand{ID: "a"}) }, nil},
		{"released", locking.Released, func(m *mediator.Mediator) any { return sendRecovering(m, AccountCommand{ID: "a"}) }, nil},
		{"acquired, first of three keys", locking.Acquired, func(m *mediator.Mediator) any {
			return sendRecovering(m, TransferKeysCommand{Accounts: []string{"a", "b", "c"}})
		}, nil},
		{"released, first of three keys", locking.Released, func(m *mediator.Mediator) any {
			return sendRecovering(m, TransferKeysCommand{Accounts: []string{"a", "b", "c"}})
		}, nil},
		{"contended, third of three keys", locking.Contended, func(m *mediator.Mediator) any {
			return sendRecovering(m, TransferKeysCommand{Accounts: []string{"a", "b", "c"}})
		}, func(p *fakeProvider) { p.held["account:c"] = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			if tc.prep != nil {
				tc.prep(fake)
			}
			before := fake.heldCount()
			m := build(t, fake.option(),
				locking.WithObserver(panicAt(tc.at)),
				locking.WithDistributedLocking[AccountCommand, int](),
				locking.WithDistributedLocking[TransferKeysCommand, []string](),
				mediator.WithHandler[AccountCommand, int](func(context.Context, AccountCommand) (int, error) { return 1, nil }),
				mediator.WithHandler[TransferKeysCommand, []string](heldKeys[TransferKeysCommand]))
			p := tc.send(m)
			if p != (observerPanic{tc.at}) {
				t.Fatalf("Send panicked with %v, want the observer's panic", p)
			}
			if n := fake.heldCount(); n != before {
				t.Fatalf("%d keys held after the observer panicked, want %d", n-before, 0)
			}
		})
	}
}

func TestPanickingObserverAtLostReachesTheCaller(t *testing.T) {
	fake := newFake()
	fake.losable = true
	m := build(t, fake.option(),
		locking.WithObserver(panicAt(locking.Lost)),
		locking.WithDistributedLocking[AccountCommand, int](),
		mediator.WithHandler[AccountCommand, int](func(ctx context.Context, _ AccountCommand) (int, error) {
			fake.lastHandle().markLost()
			<-ctx.Done()
			return 0, nil
		}))
	if p := sendRecovering(m, AccountCommand{ID: "a"}); p != (observerPanic{locking.Lost}) {
		t.Fatalf("Send panicked with %v, want the observer's panic from the watcher", p)
	}
	if n := fake.heldCount(); n != 0 {
		t.Fatalf("%d keys held", n)
	}
}

// panickyHandler is a slog.Handler that panics on every record.
type panickyHandler struct{}

func (panickyHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (panickyHandler) Handle(context.Context, slog.Record) error { panic("log handler") }
func (h panickyHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h panickyHandler) WithGroup(string) slog.Handler           { return h }

func TestPanickingLogHandlerLeavesNoKeyHeld(t *testing.T) {
	fake := newFake()
	m := build(t, fake.option(),
		locking.WithLogger(slog.New(panickyHandler{})),
		locking.WithDistributedLocking[TransferKeysCommand, []string](),
		mediator.WithHandler[TransferKeysCommand, []string](heldKeys[TransferKeysCommand]))
	if p := sendRecovering(m, TransferKeysCommand{Accounts: []string{"a", "b"}}); p != "log handler" {
		t.Fatalf("Send panicked with %v, want the log handler's panic", p)
	}
	if n := fake.heldCount(); n != 0 {
		t.Fatalf("%d keys held after the log handler panicked", n)
	}
}
