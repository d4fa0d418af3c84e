package mediator_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// Messages shared by the tests of this package.

type ping struct {
	mediator.Query[string]
	Name string
}

type pingHandler struct{ greeting string }

func (h pingHandler) Handle(_ context.Context, p ping) (string, error) {
	return h.greeting + " " + p.Name, nil
}

type deposit struct {
	mediator.Command[int64]
	Amount int64
}

type noop struct {
	mediator.Command[mediator.Unit]
}

// here returns "dir/file.go:line" of its caller, the form Build errors use
// for registration sites. Call it on the same line as the registration.
func here() string {
	_, file, line, _ := runtime.Caller(1)
	dir, name := file[:strings.LastIndexByte(file, '/')], file[strings.LastIndexByte(file, '/')+1:]
	return dir[strings.LastIndexByte(dir, '/')+1:] + "/" + name + ":" + strconv.Itoa(line)
}

func mustNew(t *testing.T, opts ...mediator.Option) *mediator.Mediator {
	t.Helper()
	m, err := mediator.New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if m == nil {
		t.Fatal("New returned a nil mediator and no error")
	}
	return m
}

func TestSendToHandlerValue(t *testing.T) {
	m := mustNew(t, mediator.WithHandler[ping, string](pingHandler{greeting: "hello"}))
	got, err := mediator.Send(context.Background(), m, ping{Name: "ann"})
	if err != nil || got != "hello ann" {
		t.Fatalf("Send = %q, %v; want %q, nil", got, err, "hello ann")
	}
}

func TestSendToHandlerFunc(t *testing.T) {
	h := mediator.HandlerFunc[deposit, int64](func(_ context.Context, d deposit) (int64, error) {
		return 1000 + d.Amount, nil
	})
	m := mustNew(t, mediator.WithHandler[deposit, int64](h))
	got, err := mediator.Send(context.Background(), m, deposit{Amount: 250})
	if err != nil || got != 1250 {
		t.Fatalf("Send = %d, %v; want 1250, nil", got, err)
	}
}

func TestSendToPlainFunc(t *testing.T) {
	m := mustNew(t, mediator.WithHandler[deposit, int64](func(_ context.Context, d deposit) (int64, error) {
		return -d.Amount, nil
	}))
	got, err := mediator.Send(context.Background(), m, deposit{Amount: 7})
	if err != nil || got != -7 {
		t.Fatalf("Send = %d, %v; want -7, nil", got, err)
	}
}

func TestSendReturnsHandlerError(t *testing.T) {
	errInsufficient := errors.New("insufficient funds")
	m := mustNew(t, mediator.WithHandler[deposit, int64](func(context.Context, deposit) (int64, error) {
		return 42, errInsufficient
	}))
	got, err := mediator.Send(context.Background(), m, deposit{Amount: 7})
	if err != errInsufficient || got != 42 {
		t.Fatalf("Send = %d, %v; want 42, %v (the handler's own values)", got, err, errInsufficient)
	}
}

func TestSendUnitCommand(t *testing.T) {
	calls := 0
	m := mustNew(t, mediator.WithHandler[noop, mediator.Unit](func(context.Context, noop) (mediator.Unit, error) {
		calls++
		return mediator.Unit{}, nil
	}))
	got, err := mediator.Send(context.Background(), m, noop{})
	if err != nil || got != (mediator.Unit{}) || calls != 1 {
		t.Fatalf("Send = %v, %v after %d calls; want {}, nil after 1", got, err, calls)
	}
}

// store is an application service the container provides to constructors.
type store struct{ balances map[string]int64 }

type depositHandler struct{ s *store }

func (h *depositHandler) Handle(_ context.Context, d deposit) (int64, error) {
	h.s.balances["acc"] += d.Amount
	return h.s.balances["acc"], nil
}

func TestSendToConstructorWithProvidedDependency(t *testing.T) {
	storeBuilt, handlerBuilt := 0, 0
	m := mustNew(t,
		mediator.Provide(func() *store {
			storeBuilt++
			return &store{balances: map[string]int64{"acc": 100}}
		}),
		// The constructor returns the concrete type; it only has to implement Handler.
		mediator.WithHandler[deposit, int64](func(s *store) *depositHandler {
			handlerBuilt++
			return &depositHandler{s: s}
		}),
	)
	ctx := context.Background()
	for _, want := range []int64{150, 200} {
		got, err := mediator.Send(ctx, m, deposit{Amount: 50})
		if err != nil || got != want {
			t.Fatalf("Send = %d, %v; want %d, nil", got, err, want)
		}
	}
	if storeBuilt != 1 || handlerBuilt != 1 {
		t.Fatalf("store built %d times, handler %d times; want once each, at Build", storeBuilt, handlerBuilt)
	}
}

func TestSendToConstructorReturningHandlerAndNilError(t *testing.T) {
	m := mustNew(t, mediator.WithHandler[ping, string](func() (mediator.Handler[ping, string], error) {
		return pingHandler{greeting: "hi"}, nil
	}))
	got, err := mediator.Send(context.Background(), m, ping{Name: "bo"})
	if err != nil || got != "hi bo" {
		t.Fatalf("Send = %q, %v; want %q, nil", got, err, "hi bo")
	}
}

type unregistered struct {
	mediator.Query[int]
}

func TestSendWithoutHandlerIsErrNoHandler(t *testing.T) {
	m := mustNew(t, mediator.WithHandler[ping, string](pingHandler{}))
	got, err := mediator.Send(context.Background(), m, unregistered{})
	if got != 0 {
		t.Errorf("Send returned %d; want the zero response", got)
	}
	if !errors.Is(err, mediator.ErrNoHandler) {
		t.Fatalf("errors.Is(%v, ErrNoHandler) = false", err)
	}
	var nh *mediator.NoHandlerError
	if !errors.As(err, &nh) {
		t.Fatalf("errors.As(%v, *NoHandlerError) = false", err)
	}
	if nh.Type != reflect.TypeFor[unregistered]() || nh.Hint != "" {
		t.Errorf("NoHandlerError = {Type: %v, Hint: %q}; want {mediator_test.unregistered, \"\"}", nh.Type, nh.Hint)
	}
	if want := "mediator: no handler for mediator_test.unregistered"; err.Error() != want {
		t.Errorf("error = %q; want %q", err, want)
	}
}

func TestSendOnEmptyMediator(t *testing.T) {
	m := mustNew(t)
	_, err := mediator.Send(context.Background(), m, ping{})
	if want := "mediator: no handler for mediator_test.ping"; err == nil || err.Error() != want {
		t.Fatalf("Send on an empty mediator: %v; want %q", err, want)
	}
}

func TestPointerAndValueRequestTypesAreDistinct(t *testing.T) {
	m := mustNew(t,
		mediator.WithHandler[ping, string](pingHandler{greeting: "value"}),
		mediator.WithHandler[*ping, string](func(_ context.Context, p *ping) (string, error) {
			return "pointer " + p.Name, nil
		}),
	)
	ctx := context.Background()
	if got, err := mediator.Send(ctx, m, ping{Name: "a"}); err != nil || got != "value a" {
		t.Errorf("Send(ping) = %q, %v; want %q", got, err, "value a")
	}
	if got, err := mediator.Send(ctx, m, &ping{Name: "b"}); err != nil || got != "pointer b" {
		t.Errorf("Send(*ping) = %q, %v; want %q", got, err, "pointer b")
	}
}

func TestSendValueWhenPointerIsRegisteredSaysSo(t *testing.T) {
	m := mustNew(t, mediator.WithHandler[*ping, string](func(context.Context, *ping) (string, error) { return "", nil }))
	_, err := mediator.Send(context.Background(), m, ping{})
	var nh *mediator.NoHandlerError
	if !errors.As(err, &nh) || !errors.Is(err, mediator.ErrNoHandler) {
		t.Fatalf("Send(ping) = %v; want a *NoHandlerError wrapping ErrNoHandler", err)
	}
	want := "mediator: no handler for mediator_test.ping (a handler is registered for the pointer type *mediator_test.ping: send a pointer)"
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
	if nh.Hint != "a handler is registered for the pointer type *mediator_test.ping: send a pointer" {
		t.Errorf("Hint = %q", nh.Hint)
	}
}

func TestSendPointerWhenValueIsRegisteredSaysSo(t *testing.T) {
	m := mustNew(t, mediator.WithHandler[ping, string](pingHandler{}))
	_, err := mediator.Send(context.Background(), m, &ping{})
	want := "mediator: no handler for *mediator_test.ping (a handler is registered for the value type mediator_test.ping: send the value, not a pointer)"
	if err == nil || err.Error() != want {
		t.Fatalf("error =\n%v\nwant\n%s", err, want)
	}
	var nh *mediator.NoHandlerError
	if !errors.As(err, &nh) || nh.Type != reflect.TypeFor[*ping]() {
		t.Errorf("NoHandlerError.Type = %v; want *mediator_test.ping", nh.Type)
	}
}

func TestSendConcurrentlyIsSafe(t *testing.T) {
	double := mediator.BehaviorFunc[deposit, int64](func(ctx context.Context, d deposit, next mediator.Next[deposit, int64]) (int64, error) {
		d.Amount *= 2
		return next(ctx, d)
	})
	m := mustNew(t,
		mediator.WithHandler[deposit, int64](func(_ context.Context, d deposit) (int64, error) { return d.Amount + 1, nil }),
		mediator.WithBehavior[deposit, int64](double),
		mediator.WithHandler[ping, string](pingHandler{greeting: "hey"}),
	)
	const goroutines, sends = 8, 500
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			ctx := context.Background()
			for i := range sends {
				n := int64(g*sends + i)
				if got, err := mediator.Send(ctx, m, deposit{Amount: n}); err != nil || got != 2*n+1 {
					errs <- fmt.Errorf("Send(deposit %d) = %d, %v; want %d", n, got, err, 2*n+1)
					return
				}
				name := strconv.Itoa(i)
				if got, err := mediator.Send(ctx, m, ping{Name: name}); err != nil || got != "hey "+name {
					errs <- fmt.Errorf("Send(ping %s) = %q, %v", name, got, err)
					return
				}
				if _, err := mediator.Send(ctx, m, unregistered{}); !errors.Is(err, mediator.ErrNoHandler) {
					errs <- fmt.Errorf("Send(unregistered) = %v; want ErrNoHandler", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMediatorsDoNotShareRegistrations(t *testing.T) {
	one := mustNew(t, mediator.WithHandler[ping, string](pingHandler{greeting: "one"}))
	two := mustNew(t,
		mediator.WithHandler[ping, string](pingHandler{greeting: "two"}),
		mediator.WithBehavior[ping, string](func(ctx context.Context, p ping, next mediator.Next[ping, string]) (string, error) {
			r, err := next(ctx, p)
			return "[" + r + "]", err
		}),
	)
	empty := mustNew(t)
	ctx := context.Background()
	if got, err := mediator.Send(ctx, one, ping{Name: "x"}); err != nil || got != "one x" {
		t.Errorf("first mediator: %q, %v; want %q", got, err, "one x")
	}
	if got, err := mediator.Send(ctx, two, ping{Name: "x"}); err != nil || got != "[two x]" {
		t.Errorf("second mediator: %q, %v; want %q", got, err, "[two x]")
	}
	if _, err := mediator.Send(ctx, empty, ping{Name: "x"}); !errors.Is(err, mediator.ErrNoHandler) {
		t.Errorf("third mediator: %v; want ErrNoHandler", err)
	}
	// Building one does not disturb the others.
	if got, err := mediator.Send(ctx, one, ping{Name: "y"}); err != nil || got != "one y" {
		t.Errorf("first mediator after the others were built: %q, %v", got, err)
	}
}
