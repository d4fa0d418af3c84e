package mediator_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// tracing returns a per-type notification behavior that records its name on
// the way in and out.
func tracing(r *recorder, name string) func(context.Context, accountOpened, mediator.NotificationNext[accountOpened]) error {
	return func(ctx context.Context, n accountOpened, next mediator.NotificationNext[accountOpened]) error {
		r.add(name + ">")
		err := next(ctx, n)
		r.add("<" + name)
		return err
	}
}

func TestNotificationBehaviorOrder(t *testing.T) {
	r := &recorder{}
	m := mustNew(t,
		mediator.WithNotificationBehavior[accountOpened](tracing(r, "typeA")),
		mediator.WithGlobalNotificationBehavior(func(ctx context.Context, n any, next mediator.AnyNotificationNext) error {
			r.add("global>")
			err := next(ctx, n)
			r.add("<global")
			return err
		}),
		mediator.WithNotificationHandlerBehavior[accountOpened](tracing(r, "h1")),
		mediator.WithNotificationHandlerBehavior[accountOpened](tracing(r, "h2")),
		mediator.WithNotificationBehavior[accountOpened](tracing(r, "typeB")),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "a", nil)),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "b", nil)),
	)
	if err := mediator.Publish(context.Background(), m, accountOpened{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"global>", "typeA>", "typeB>",
		"h1>", "h2>", "a:1", "<h2", "<h1",
		"h1>", "h2>", "b:1", "<h2", "<h1",
		"<typeB", "<typeA", "<global",
	}
	if got := r.list(); !slices.Equal(got, want) {
		t.Errorf("order\n got %v\nwant %v", got, want)
	}
}

func TestNotificationBehaviorWrapsWholePublishOnce(t *testing.T) {
	var calls atomic.Int32
	errB := errors.New("b failed")
	r := &recorder{}
	m := mustNew(t,
		mediator.WithNotificationBehavior[accountOpened](func(ctx context.Context, n accountOpened, next mediator.NotificationNext[accountOpened]) error {
			calls.Add(1)
			return next(ctx, n)
		}),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "a", nil)),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "b", errB)),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "c", nil)),
	)
	err := mediator.Publish(context.Background(), m, accountOpened{ID: "1"})
	if !errors.Is(err, errB) {
		t.Fatalf("Publish = %v; want the handler's error through the behavior", err)
	}
	if calls.Load() != 1 {
		t.Errorf("whole-publish behavior ran %d times for 3 handlers; want 1", calls.Load())
	}
}

// retry is a per-handler behavior that calls its handler again, up to
// attempts times in all, while it fails.
func retry(attempts int) mediator.NotificationBehaviorFunc[accountOpened] {
	return func(ctx context.Context, n accountOpened, next mediator.NotificationNext[accountOpened]) error {
		var err error
		for range attempts {
			if err = next(ctx, n); err == nil {
				return nil
			}
		}
		return err
	}
}

func TestNotificationHandlerBehaviorRetriesOneHandlerOnly(t *testing.T) {
	var flaky, steady atomic.Int32
	m := mustNew(t,
		mediator.WithNotificationHandlerBehavior[accountOpened](retry(3)),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error {
			steady.Add(1)
			return nil
		}),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error {
			if flaky.Add(1) < 3 {
				return errors.New("transient")
			}
			return nil
		}),
	)
	if err := mediator.Publish(context.Background(), m, accountOpened{}); err != nil {
		t.Fatalf("Publish = %v; want the retried handler to succeed", err)
	}
	if flaky.Load() != 3 || steady.Load() != 1 {
		t.Errorf("flaky handler called %d times, steady %d; want 3 and 1", flaky.Load(), steady.Load())
	}
}

func TestNotificationHandlerBehaviorConstructorRunsPerHandler(t *testing.T) {
	var built atomic.Int32
	m := mustNew(t,
		mediator.WithNotificationHandlerBehavior[accountOpened](func(mt mediator.MessageType) mediator.NotificationBehavior[accountOpened] {
			if mt.Type.String() != "mediator_test.accountOpened" {
				t.Errorf("MessageType = %v", mt.Type)
			}
			built.Add(1)
			return retry(1)
		}),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error { return nil }),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error { return nil }),
	)
	if built.Load() != 2 {
		t.Errorf("constructor called %d times for 2 handlers; want 2", built.Load())
	}
	if err := mediator.Publish(context.Background(), m, accountOpened{}); err != nil {
		t.Fatal(err)
	}
}

type selectOpened struct{}

func (selectOpened) AppliesTo(mt mediator.MessageType) (bool, error) {
	return mt.Type.String() == "mediator_test.accountOpened", nil
}

func (selectOpened) Handle(ctx context.Context, n any, next mediator.AnyNotificationNext) error {
	return fmt.Errorf("selected: %w", next(ctx, n))
}

func TestGlobalNotificationBehaviorSelector(t *testing.T) {
	m := mustNew(t,
		mediator.WithGlobalNotificationBehavior(selectOpened{}),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error { return nil }),
		mediator.WithNotificationHandler[unheard](func(context.Context, unheard) error { return nil }),
	)
	if err := mediator.Publish(context.Background(), m, accountOpened{}); err == nil || err.Error() != "selected: %!w(<nil>)" {
		t.Errorf("Publish(accountOpened) = %v; want the selected behavior to run", err)
	}
	if err := mediator.Publish(context.Background(), m, unheard{}); err != nil {
		t.Errorf("Publish(unheard) = %v; want the behavior not applied", err)
	}
}

func TestNotificationBehaviorWithoutHandlerRuns(t *testing.T) {
	var seen atomic.Int32
	m := mustNew(t, mediator.WithNotificationBehavior[unheard](func(ctx context.Context, n unheard, next mediator.NotificationNext[unheard]) error {
		seen.Add(1)
		return next(ctx, n)
	}))
	if err := mediator.Publish(context.Background(), m, unheard{}); err != nil || seen.Load() != 1 {
		t.Fatalf("Publish = %v, behavior ran %d times; want nil, 1", err, seen.Load())
	}
	strict := mustNew(t, mediator.RequireNotificationHandlers(),
		mediator.WithNotificationBehavior[unheard](func(ctx context.Context, n unheard, next mediator.NotificationNext[unheard]) error {
			return next(ctx, n)
		}))
	if err := mediator.Publish(context.Background(), strict, unheard{}); !errors.Is(err, mediator.ErrNoNotificationHandler) {
		t.Errorf("Publish with only a behavior under RequireNotificationHandlers = %v; want ErrNoNotificationHandler", err)
	}
}

func TestNotificationBehaviorBadValueFailsBuild(t *testing.T) {
	be := buildError(t,
		mediator.WithNotificationBehavior[accountOpened](42),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error { return nil }))
	if !strings.Contains(be.Error(), "WithNotificationBehavior") || !strings.Contains(be.Error(), "accountOpened") {
		t.Errorf("error = %v; want it to name the registration and the type", be)
	}
}

func TestPublishStopOnFirstError(t *testing.T) {
	r := &recorder{}
	errB := errors.New("b failed")
	m := mustNew(t,
		mediator.WithPublishStrategy(mediator.StopOnFirstError),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "a", nil)),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "b", errB)),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "c", errors.New("c failed"))),
	)
	err := mediator.Publish(context.Background(), m, accountOpened{ID: "1"})
	if err != errB {
		t.Errorf("Publish = %v; want exactly b's error, not joined", err)
	}
	if got := r.list(); !slices.Equal(got, []string{"a:1", "b:1"}) {
		t.Errorf("handlers run %v; want a then b, c not called", got)
	}
}

func TestPublishStopOnFirstErrorPanicGoesUp(t *testing.T) {
	m := mustNew(t,
		mediator.WithPublishStrategy(mediator.StopOnFirstError),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error { panic("boom") }),
	)
	defer func() {
		if p := recover(); p != "boom" {
			t.Errorf("recovered %v; want the handler's panic", p)
		}
	}()
	_ = mediator.Publish(context.Background(), m, accountOpened{})
	t.Error("Publish returned; want the panic to go on up")
}

func TestPublishParallelBoundedNeverExceedsLimit(t *testing.T) {
	const handlers, limit = 8, 3
	var running, peak atomic.Int32
	// Each handler waits until limit handlers run at once (or, for the
	// last ones, until no more can start), so a bound that is not honoured
	// shows up as peak > limit, and one that is too tight as a stall.
	gate := make(chan struct{})
	var once sync.Once
	errs := map[int]error{1: errors.New("h1"), 6: errors.New("h6")}
	opts := []mediator.Option{mediator.WithPublishStrategy(mediator.Parallel), mediator.WithMaxPublishConcurrency(limit)}
	for i := range handlers {
		opts = append(opts, mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error {
			now := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if now <= p || peak.CompareAndSwap(p, now) {
					break
				}
			}
			if now == limit {
				once.Do(func() { close(gate) })
			}
			select {
			case <-gate:
			case <-time.After(10 * time.Second):
				return errors.New("the bound was never reached")
			}
			if i == 5 {
				panic("h5 exploded")
			}
			return errs[i]
		}))
	}
	m := mustNew(t, opts...)
	err := mediator.Publish(context.Background(), m, accountOpened{})
	if peak.Load() != limit {
		t.Errorf("peak concurrency %d; want exactly %d", peak.Load(), limit)
	}
	var pe *mediator.PanicError
	if !errors.As(err, &pe) || pe.Value != "h5 exploded" {
		t.Errorf("Publish = %v; want a *PanicError for h5", err)
	}
	if want := "h1\nmediator: handler panicked: h5 exploded\nh6"; err == nil || err.Error() != want {
		t.Errorf("error = %q; want %q (registration order)", err, want)
	}
}

func TestMaxPublishConcurrencyMustBePositive(t *testing.T) {
	be := buildError(t, mediator.WithMaxPublishConcurrency(0))
	if !strings.Contains(be.Error(), "WithMaxPublishConcurrency(0)") || !strings.Contains(be.Error(), "at least 1") {
		t.Errorf("error = %v", be)
	}
}

type bgError struct {
	n   any
	err error
}

func TestBackgroundPublishReturnsAtOnceAndReportsErrors(t *testing.T) {
	release := make(chan struct{})
	reported := make(chan bgError, 1)
	errA := errors.New("a failed")
	type ctxKey struct{}
	m, err := mediator.New(
		// Parallel, so b's panic does not cut a's delivery short (with
		// Sequential it ends the delivery, reported as a *PanicError).
		mediator.WithPublishStrategy(mediator.Parallel),
		mediator.WithBackgroundPublish(func(ctx context.Context, n any, err error) {
			if ctx.Value(ctxKey{}) != "v" {
				t.Error("callback context lost the caller's values")
			}
			reported <- bgError{n, err}
		}),
		mediator.WithNotificationHandler[accountOpened](func(ctx context.Context, n accountOpened) error {
			<-release
			if ctx.Err() != nil {
				return fmt.Errorf("handler context cancelled with the caller's: %w", ctx.Err())
			}
			return errA
		}),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error { panic("b exploded") }),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	if err := mediator.Publish(ctx, m, accountOpened{ID: "7"}); err != nil {
		t.Fatalf("Publish = %v; want nil at once", err)
	}
	cancel() // the caller is gone; the delivery is not
	close(release)
	got := <-reported
	if n, _ := got.n.(accountOpened); n.ID != "7" {
		t.Errorf("callback got %v; want the notification", got.n)
	}
	var pe *mediator.PanicError
	if !errors.Is(got.err, errA) || !errors.As(got.err, &pe) {
		t.Errorf("callback error %v; want a's error and b's panic joined", got.err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCloseWaitsForBackgroundPublishes(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var order []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	m, err := mediator.New(
		mediator.WithBackgroundPublish(func(_ context.Context, _ any, err error) { note("callback") }),
		mediator.Provide(func(l *mediator.Lifecycle) int {
			l.OnClose(func(context.Context) error { note("cleanup"); return nil })
			return 0
		}),
		mediator.WithNotificationHandler[accountOpened](func(_ int) mediator.NotificationHandler[accountOpened] {
			return mediator.NotificationHandlerFunc[accountOpened](func(context.Context, accountOpened) error {
				close(started)
				<-release
				note("handler")
				return errors.New("late")
			})
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := mediator.Publish(context.Background(), m, accountOpened{}); err != nil {
		t.Fatal(err)
	}
	<-started

	// A Close whose context ends first reports it and runs no clean-up.
	short, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Close(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close with an ended context = %v; want context.Canceled", err)
	}
	if err := mediator.Publish(context.Background(), m, accountOpened{}); !errors.Is(err, mediator.ErrClosed) {
		t.Errorf("Publish after Close = %v; want ErrClosed", err)
	}

	closed := make(chan error, 1)
	go func() { closed <- m.Close(context.Background()) }()
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"handler", "callback", "cleanup"}; !slices.Equal(order, want) {
		t.Errorf("order %v; want %v (Close waits for the delivery and its callback)", order, want)
	}
}

func TestBackgroundPublishConcurrentWithClose(t *testing.T) {
	// Many Publishes racing Close: every one either is refused with
	// ErrClosed or is delivered before Close returns; none is lost, none
	// runs after. Run with -race.
	var delivered, accepted atomic.Int32
	m, err := mediator.New(
		mediator.WithBackgroundPublish(func(context.Context, any, error) {}),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error {
			delivered.Add(1)
			return nil
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				err := mediator.Publish(context.Background(), m, accountOpened{})
				if err == nil {
					accepted.Add(1)
				} else if !errors.Is(err, mediator.ErrClosed) {
					t.Errorf("Publish = %v", err)
				}
			}
		}()
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := delivered.Load()
	wg.Wait()
	if after != accepted.Load() || delivered.Load() != after {
		t.Errorf("accepted %d, delivered %d by Close, %d in all; want all equal", accepted.Load(), after, delivered.Load())
	}
}

func TestBackgroundPublishNilCallbackFailsBuild(t *testing.T) {
	be := buildError(t, mediator.WithBackgroundPublish(nil))
	if !strings.Contains(be.Error(), "WithBackgroundPublish") || !strings.Contains(be.Error(), "nil") {
		t.Errorf("error = %v", be)
	}
}

func TestPublishStrategyString(t *testing.T) {
	for s, want := range map[mediator.PublishStrategy]string{
		mediator.Sequential: "Sequential", mediator.Parallel: "Parallel",
		mediator.StopOnFirstError: "StopOnFirstError", 9: "PublishStrategy(9)",
	} {
		if s.String() != want {
			t.Errorf("%d.String() = %q; want %q", int(s), s, want)
		}
	}
}

type localKey struct{}

func (localKey) CallerLocal() {}

type sharedKey struct{}

func TestBackgroundPublishHidesCallerLocalValues(t *testing.T) {
	seen := make(chan [2]any, 1)
	m := mustNew(t,
		mediator.WithBackgroundPublish(func(context.Context, any, error) {}),
		mediator.WithNotificationHandler[accountOpened](func(ctx context.Context, _ accountOpened) error {
			seen <- [2]any{ctx.Value(localKey{}), ctx.Value(sharedKey{})}
			return nil
		}),
	)
	ctx := context.WithValue(context.WithValue(context.Background(), localKey{}, "lock"), sharedKey{}, "trace")
	if err := mediator.Publish(ctx, m, accountOpened{}); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got[0] != nil || got[1] != "trace" {
		t.Errorf("handler saw local %v, shared %v; want nil and trace", got[0], got[1])
	}
}
