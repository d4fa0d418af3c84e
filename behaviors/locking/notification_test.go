package locking_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// accountClosed is a notification whose handlers must run under the
// account's lock.
type accountClosed struct {
	mediator.Notification
	locking.DistributedLock `lock:"timeout=0"`
	AccountID               string
}

func (n accountClosed) LockKey() string { return n.AccountID }

// reportReady skips its handlers when its lock is taken.
type reportReady struct {
	mediator.Notification
	locking.DistributedLock `lock:"throw=false,timeout=0"`
	Day                     string `lock:"key"`
}

func TestNotificationHandlersRunWhileLockIsHeld(t *testing.T) {
	p := memory.New()
	var tokens []uint64
	var keys []string
	handler := func(ctx context.Context, n accountClosed) error {
		h, ok := locking.FromContext(ctx)
		if !ok {
			return errors.New("handler ran without the lock")
		}
		keys, tokens = append(keys, h.Key()), append(tokens, h.Token())
		// The lock is held: another acquisition of the key is refused.
		if _, err := p.TryAcquire(context.Background(), "accountClosed:42", 0); !errors.Is(err, locking.ErrNotAcquired) {
			return errors.New("the key was free while a handler ran")
		}
		return nil
	}
	m := build(t, withMemory(p),
		locking.WithNotificationLocking[accountClosed](),
		mediator.WithNotificationHandler[accountClosed](handler),
		mediator.WithNotificationHandler[accountClosed](handler),
	)
	if err := mediator.Publish(context.Background(), m, accountClosed{AccountID: "42"}); err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 2 || tokens[0] != tokens[1] || keys[0] != "accountClosed:42" {
		t.Errorf("handlers saw keys %v tokens %v; want both under one grant of accountClosed:42", keys, tokens)
	}
	if p.Len() != 0 {
		t.Errorf("provider holds %d keys after Publish; want the lock released", p.Len())
	}
}

func TestNotificationLockContendedThrowsOrSkips(t *testing.T) {
	p := memory.New()
	var calls counter
	m := build(t, withMemory(p),
		locking.WithNotificationLocking[accountClosed](),
		locking.WithNotificationLocking[reportReady](),
		mediator.WithNotificationHandler[accountClosed](func(context.Context, accountClosed) error { calls.n.Add(1); return nil }),
		mediator.WithNotificationHandler[reportReady](func(context.Context, reportReady) error { calls.n.Add(1); return nil }),
	)
	ctx := context.Background()
	held, err := p.TryAcquire(ctx, "accountClosed:42", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(ctx)
	err = mediator.Publish(ctx, m, accountClosed{AccountID: "42"})
	var le *locking.Error
	if !errors.As(err, &le) || !errors.Is(err, locking.ErrNotAcquired) || le.Key != "accountClosed:42" {
		t.Errorf("Publish with the lock taken = %v; want a *locking.Error for accountClosed:42", err)
	}

	day, err := p.TryAcquire(ctx, "reportReady:2026-11-30", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer day.Release(ctx)
	if err := mediator.Publish(ctx, m, reportReady{Day: "2026-11-30"}); err != nil {
		t.Errorf("Publish with throw=false and the lock taken = %v; want nil", err)
	}
	if calls.get() != 0 {
		t.Errorf("%d handlers ran without the lock; want 0", calls.get())
	}
	if err := mediator.Publish(ctx, m, reportReady{Day: "2026-12-01"}); err != nil || calls.get() != 1 {
		t.Errorf("Publish of a free key = %v with %d handler calls; want nil, 1", err, calls.get())
	}
}

func TestNotificationLockLostCancelsHandlers(t *testing.T) {
	p := newFake()
	p.losable = true
	m := build(t, p.option(),
		locking.WithNotificationLocking[accountClosed](),
		mediator.WithNotificationHandler[accountClosed](func(ctx context.Context, n accountClosed) error {
			p.lastHandle().markLost()
			<-ctx.Done()
			if !errors.Is(context.Cause(ctx), locking.ErrLockLost) {
				t.Errorf("cause = %v; want ErrLockLost", context.Cause(ctx))
			}
			return ctx.Err()
		}),
	)
	err := mediator.Publish(context.Background(), m, accountClosed{AccountID: "7"})
	if !errors.Is(err, locking.ErrLockLost) || !errors.Is(err, context.Canceled) {
		t.Errorf("Publish = %v; want ErrLockLost wrapping the handler's error", err)
	}
	if p.heldCount() != 0 || p.lastHandle().releases.Load() != 1 {
		t.Errorf("after a loss: %d held, %d releases; want 0 held, 1 release", p.heldCount(), p.lastHandle().releases.Load())
	}
}

func TestNotificationLockReleasedOnPanic(t *testing.T) {
	p := memory.New()
	m := build(t, withMemory(p),
		locking.WithNotificationLocking[accountClosed](),
		mediator.WithNotificationHandler[accountClosed](func(context.Context, accountClosed) error { panic("handler exploded") }),
	)
	func() {
		defer func() {
			if r := recover(); r != "handler exploded" {
				t.Errorf("recovered %v; want the handler's panic", r)
			}
		}()
		_ = mediator.Publish(context.Background(), m, accountClosed{AccountID: "1"})
	}()
	if p.Len() != 0 {
		t.Errorf("provider holds %d keys after a panic; want 0", p.Len())
	}
}

func TestNotificationLockingWithoutProviderFailsBuild(t *testing.T) {
	_, err := mediator.New(
		locking.WithNotificationLocking[accountClosed](),
		mediator.WithNotificationHandler[accountClosed](func(context.Context, accountClosed) error { return nil }),
	)
	if !errors.Is(err, locking.ErrNoProvider) {
		t.Errorf("Build = %v; want ErrNoProvider", err)
	}
}

// closeAccount is the request twin of accountClosed, for comparing costs.
type closeAccount struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"timeout=0"`
	AccountID               string
}

func (c closeAccount) LockKey() string { return c.AccountID }

// A locked Publish costs what a locked Send of the same shape costs (the
// scope, the memory handle, the key): the notification path adds nothing.
func TestNotificationLockingAllocatesAsMuchAsSend(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m := build(t, memory.WithInMemoryDistributedLocking(),
		locking.WithNotificationLocking[accountClosed](),
		locking.WithDistributedLocking[closeAccount, mediator.Unit](),
		mediator.WithNotificationHandler[accountClosed](func(context.Context, accountClosed) error { return nil }),
		mediator.WithHandler[closeAccount, mediator.Unit](unitHandler[closeAccount]),
	)
	ctx := context.Background()
	publish := testing.AllocsPerRun(200, func() {
		if err := mediator.Publish(ctx, m, accountClosed{AccountID: "42"}); err != nil {
			t.Fatal(err)
		}
	})
	send := testing.AllocsPerRun(200, func() {
		if _, err := mediator.Send(ctx, m, closeAccount{AccountID: "42"}); err != nil {
			t.Fatal(err)
		}
	})
	if publish != send {
		t.Errorf("locked Publish: %v allocs, locked Send: %v; want the same", publish, send)
	}
}

func TestMarkedNotificationWithoutLockingFailsBuild(t *testing.T) {
	_, err := mediator.New(
		memory.WithInMemoryDistributedLocking(),
		mediator.WithNotificationHandler[accountClosed](func(context.Context, accountClosed) error { return nil }),
	)
	if err == nil || !strings.Contains(err.Error(), "locking.WithNotificationLocking[locking_test.accountClosed]()") ||
		!strings.Contains(err.Error(), "notification_test.go") {
		t.Errorf("Build = %v; want it to name the type, the handler's line and the fix", err)
	}
	// A per-handler behavior is not the lock around the Publish.
	_, err = mediator.New(
		memory.WithInMemoryDistributedLocking(),
		mediator.WithNotificationHandlerBehavior[accountClosed](func(ctx context.Context, n accountClosed, next mediator.NotificationNext[accountClosed]) error {
			return next(ctx, n)
		}),
		mediator.WithNotificationHandler[accountClosed](func(context.Context, accountClosed) error { return nil }),
	)
	if err == nil {
		t.Error("Build with only a per-handler behavior succeeded; want the guard error")
	}
}

// acctCommand and acctTouched lock the same final key, "acct:1".
type acctCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=acct,timeout=0"`
	ID                      string `lock:"key"`
}

type acctTouched struct {
	mediator.Notification
	locking.DistributedLock `lock:"prefix=acct,timeout=0"`
	ID                      string `lock:"key"`
}

// A background delivery published from inside a locked handler must not
// borrow the handler's lock: the handler may give it back while the
// delivery still runs. It contends instead.
func TestBackgroundPublishDoesNotBorrowTheCallersLock(t *testing.T) {
	reported := make(chan error, 1)
	ran := make(chan struct{}, 1)
	m := build(t, memory.WithInMemoryDistributedLocking(),
		mediator.WithBackgroundPublish(func(_ context.Context, _ any, err error) { reported <- err }),
		locking.WithDistributedLocking[acctCommand, mediator.Unit](),
		locking.WithNotificationLocking[acctTouched](),
		mediator.WithNotificationHandler[acctTouched](func(context.Context, acctTouched) error {
			ran <- struct{}{}
			return nil
		}),
		mediator.WithHandler[acctCommand, mediator.Unit](func(m *mediator.Mediator) mediator.Handler[acctCommand, mediator.Unit] {
			return mediator.HandlerFunc[acctCommand, mediator.Unit](func(ctx context.Context, c acctCommand) (mediator.Unit, error) {
				if err := mediator.Publish(ctx, m, acctTouched{ID: c.ID}); err != nil {
					return mediator.Unit{}, err
				}
				select { // still holding acct:1
				case err := <-reported:
					return mediator.Unit{}, err
				case <-ran:
					return mediator.Unit{}, errors.New("the background delivery ran under the caller's lock")
				}
			})
		}),
	)
	_, err := mediator.Send(context.Background(), m, acctCommand{ID: "1"})
	if !errors.Is(err, locking.ErrNotAcquired) {
		t.Errorf("Send = %v; want the delivery to contend for acct:1", err)
	}
}
