package mediator_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/mediator"
)

type accountOpened struct {
	mediator.Notification
	ID string
}

type unheard struct {
	mediator.Notification
}

// recorder collects what notification handlers saw, safe for parallel use.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, s)
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

func recordAs(r *recorder, name string, err error) func(context.Context, accountOpened) error {
	return func(_ context.Context, n accountOpened) error {
		r.add(name + ":" + n.ID)
		return err
	}
}

type emailHandler struct{ r *recorder }

func (h emailHandler) Handle(_ context.Context, n accountOpened) error {
	h.r.add("email:" + n.ID)
	return nil
}

func TestPublishSequentialRunsAllInOrderAndJoinsErrors(t *testing.T) {
	errFirst, errThird := errors.New("first failed"), errors.New("third failed")
	r := &recorder{}
	m := mustNew(t,
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "a", errFirst)),
		mediator.WithNotificationHandler[accountOpened](mediator.NotificationHandlerFunc[accountOpened](recordAs(r, "b", nil))),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "c", errThird)),
		mediator.WithNotificationHandler[accountOpened](emailHandler{r}),
	)
	err := mediator.Publish(context.Background(), m, accountOpened{ID: "42"})
	if got, want := fmt.Sprint(r.list()), "[a:42 b:42 c:42 email:42]"; got != want {
		t.Errorf("handlers ran as %s; want %s", got, want)
	}
	if !errors.Is(err, errFirst) || !errors.Is(err, errThird) {
		t.Fatalf("Publish = %v; want both handler errors joined", err)
	}
	if err.Error() != "first failed\nthird failed" {
		t.Errorf("error = %q; want %q", err, "first failed\nthird failed")
	}
}

func TestPublishSequentialIsTheDefault(t *testing.T) {
	if mediator.Sequential.String() != "Sequential" || mediator.Parallel.String() != "Parallel" {
		t.Errorf("strategy names: %s, %s", mediator.Sequential, mediator.Parallel)
	}
	// Sequential handlers run on the caller's goroutine, one after the other:
	// the second sees what the first did without any synchronisation.
	step := 0
	m := mustNew(t,
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error { step = 1; return nil }),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error {
			if step != 1 {
				return fmt.Errorf("second handler saw step %d; want 1", step)
			}
			step = 2
			return nil
		}),
	)
	if err := mediator.Publish(context.Background(), m, accountOpened{}); err != nil || step != 2 {
		t.Fatalf("Publish = %v, step %d; want nil, 2", err, step)
	}
}

func TestPublishWithConstructorHandler(t *testing.T) {
	r := &recorder{}
	m := mustNew(t,
		mediator.Provide(func() *recorder { return r }),
		mediator.WithNotificationHandler[accountOpened](func(r *recorder) emailHandler { return emailHandler{r} }),
	)
	if err := mediator.Publish(context.Background(), m, accountOpened{ID: "7"}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(r.list()); got != "[email:7]" {
		t.Errorf("seen %s; want [email:7]", got)
	}
}

// TestPublishParallelRunsHandlersConcurrently proves the overlap with
// channels: every handler announces that it started and then waits until all
// have started. Run one after another, the first would wait forever (the
// timeout only turns that hang into a failure).
func TestPublishParallelRunsHandlersConcurrently(t *testing.T) {
	const handlers = 4
	started := make(chan string, handlers)
	allStarted := make(chan struct{})
	errHandler := errors.New("handler 2 failed")
	opts := []mediator.Option{mediator.WithPublishStrategy(mediator.Parallel)}
	for i := range handlers {
		opts = append(opts, mediator.WithNotificationHandler[accountOpened](func(ctx context.Context, n accountOpened) error {
			started <- fmt.Sprint(i)
			select {
			case <-allStarted:
			case <-time.After(10 * time.Second):
				return fmt.Errorf("handler %d: the others never started: handlers are not running concurrently", i)
			}
			if i == 2 {
				return errHandler
			}
			return nil
		}))
	}
	m := mustNew(t, opts...)

	done := make(chan error, 1)
	go func() { done <- mediator.Publish(context.Background(), m, accountOpened{ID: "1"}) }()
	seen := map[string]bool{}
	for range handlers {
		seen[<-started] = true
	}
	close(allStarted)
	err := <-done
	if len(seen) != handlers {
		t.Errorf("started handlers %v; want %d distinct", seen, handlers)
	}
	if !errors.Is(err, errHandler) || err.Error() != "handler 2 failed" {
		t.Fatalf("Publish = %v; want exactly the error of handler 2", err)
	}
}

func TestPublishParallelTurnsPanicIntoPanicError(t *testing.T) {
	r := &recorder{}
	errLast := errors.New("last failed")
	m := mustNew(t,
		mediator.WithPublishStrategy(mediator.Parallel),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "a", nil)),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error { panic("handler exploded") }),
		mediator.WithNotificationHandler[accountOpened](recordAs(r, "c", errLast)),
	)
	err := mediator.Publish(context.Background(), m, accountOpened{ID: "9"})
	var pe *mediator.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Publish = %v; want a *PanicError among the errors", err)
	}
	if pe.Value != "handler exploded" || len(pe.Stack) == 0 {
		t.Errorf("PanicError = {Value: %v, %d bytes of stack}; want the panic value and a stack", pe.Value, len(pe.Stack))
	}
	if want := "mediator: handler panicked: handler exploded\nlast failed"; err.Error() != want {
		t.Errorf("error = %q; want %q (errors in registration order)", err, want)
	}
	if got := len(r.list()); got != 2 {
		t.Errorf("%d other handlers ran; want 2", got)
	}
}

func TestPublishParallelWithOneHandlerStillRecoversPanic(t *testing.T) {
	m := mustNew(t,
		mediator.WithPublishStrategy(mediator.Parallel),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error { panic(42) }),
	)
	err := mediator.Publish(context.Background(), m, accountOpened{})
	var pe *mediator.PanicError
	if !errors.As(err, &pe) || pe.Value != 42 || err.Error() != "mediator: handler panicked: 42" {
		t.Fatalf("Publish = %v; want a *PanicError with value 42", err)
	}
}

func TestPublishWithoutHandlersIsNoError(t *testing.T) {
	m := mustNew(t, mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error { return nil }))
	if err := mediator.Publish(context.Background(), m, unheard{}); err != nil {
		t.Fatalf("Publish to a type without handlers = %v; want nil", err)
	}
	if err := mediator.Publish(context.Background(), mustNew(t), unheard{}); err != nil {
		t.Fatalf("Publish on an empty mediator = %v; want nil", err)
	}
}

func TestRequireNotificationHandlers(t *testing.T) {
	m := mustNew(t,
		mediator.RequireNotificationHandlers(),
		mediator.WithNotificationHandler[accountOpened](func(context.Context, accountOpened) error { return nil }),
	)
	err := mediator.Publish(context.Background(), m, unheard{})
	if !errors.Is(err, mediator.ErrNoNotificationHandler) {
		t.Fatalf("Publish = %v; want ErrNoNotificationHandler", err)
	}
	if want := "mediator: no notification handler for mediator_test.unheard"; err.Error() != want {
		t.Errorf("error = %q; want %q", err, want)
	}
	if err := mediator.Publish(context.Background(), m, accountOpened{}); err != nil {
		t.Errorf("Publish with a handler = %v; want nil", err)
	}
}

func TestUnknownPublishStrategyFailsBuild(t *testing.T) {
	opt, at := mediator.WithPublishStrategy(mediator.PublishStrategy(3)), here()
	be := buildError(t, opt)
	if want := "mediator: build: WithPublishStrategy(PublishStrategy(3)) (at " + at + "): unknown PublishStrategy(3)"; be.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", be, want)
	}
}
