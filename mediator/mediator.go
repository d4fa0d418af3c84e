package mediator

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"go.uber.org/dig"

	"github.com/turbomediator/turbomediator-go/registry"
)

// Mediator routes each request to its handler through the pipeline of
// behaviors composed for its type at Build. It holds no package-level state:
// several mediators live side by side in one process. A Mediator is safe for
// concurrent use.
//
// A handler or behavior constructor may take a *Mediator parameter to Send or
// Publish from inside a handler: the container supplies the very mediator
// Build returns. It answers from the moment Build has returned it; a Send
// made earlier (from a constructor, while Build runs) fails with
// [ErrNotBuilt], as does every Send on the mediator of a Build that failed.
type Mediator struct {
	// state is stateBuilding until Build has filled in the fields below,
	// then stateOpen, then stateClosed. Send loads it before reading
	// anything else, which orders the reads after Build's writes.
	state         atomic.Int32
	routes        registry.Table
	notifications registry.Table
	reg           *registry.Registry
	container     *dig.Container
	lifecycle     *Lifecycle
	strategy      PublishStrategy
	requireNH     bool
}

// The states of a Mediator. The zero value is stateBuilding, so a Mediator
// that Build did not return is never mistaken for a working one.
const (
	stateBuilding int32 = iota
	stateOpen
	stateClosed
)

// Send runs req through its type's pipeline and handler and returns the
// handler's response. Res is inferred from the marker Req embeds. A request
// type without a handler gets an error wrapping [ErrNoHandler]. On a nil m
// Send returns [ErrNilMediator], after [Mediator.Close] [ErrClosed], on a
// mediator Build did not return [ErrNotBuilt]; the handler is not called.
//
// Send looks the route up in a frozen table and calls the chain composed at
// Build: no reflection, map write or allocation of its own.
func Send[Req Message[Res], Res any](ctx context.Context, m *Mediator, req Req) (Res, error) {
	if m == nil || m.state.Load() != stateOpen {
		var zero Res
		return zero, m.unusable()
	}
	r, ok := m.lookupRoute(registry.KeyOf[Req]()).(*route[Req, Res])
	if !ok {
		var zero Res
		return zero, m.noHandler(registry.KeyOf[Req]().Type())
	}
	if r.pipeline != nil {
		return r.pipeline(ctx, req)
	}
	return r.handler.Handle(ctx, req)
}

// lookupRoute finds the route of a request type. It is a plain method on
// purpose: the compiler inlines Table.Get into it, and this small method into
// each instantiation of Send, whereas a generic function instantiated in the
// caller's package does not inline Table.Get directly.
func (m *Mediator) lookupRoute(k registry.Key) any { return m.routes.Get(k) }

// Publish delivers n to every handler registered for N, with the mediator's
// [PublishStrategy], and joins the handlers' errors. A type with no handler is
// not an error unless the mediator was built with [RequireNotificationHandlers].
// A nil, closed or unbuilt m is, as for [Send].
func Publish[N Notifier](ctx context.Context, m *Mediator, n N) error {
	if m == nil || m.state.Load() != stateOpen {
		return m.unusable()
	}
	v, ok := m.notifications.Lookup(registry.KeyOf[N]())
	if !ok {
		if m.requireNH {
			return fmt.Errorf("%w for %s", ErrNoNotificationHandler, registry.TypeOf[N]())
		}
		return nil
	}
	r := v.(*notificationRoute[N])
	if m.strategy == Parallel {
		return publishParallel(ctx, r.handlers, n)
	}
	var errs []error
	for _, h := range r.handlers {
		if err := h.Handle(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func publishParallel[N any](ctx context.Context, handlers []NotificationHandler[N], n N) error {
	if len(handlers) == 1 {
		// No goroutine for one handler, but the same contract: a panic
		// comes back as a *PanicError.
		return handleRecovered(ctx, handlers[0], n)
	}
	errs := make([]error, len(handlers))
	var wg sync.WaitGroup
	for i, h := range handlers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = handleRecovered(ctx, h, n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// handleRecovered calls h and turns a panic into a *PanicError.
func handleRecovered[N any](ctx context.Context, h NotificationHandler[N], n N) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return h.Handle(ctx, n)
}

// unusable says why m cannot take a Send or Publish: it is nil, not built,
// or closed.
func (m *Mediator) unusable() error {
	if m == nil {
		return ErrNilMediator
	}
	if m.state.Load() == stateClosed {
		return ErrClosed
	}
	return ErrNotBuilt
}

// noHandler builds the error of a Send without a handler, with a hint when
// the pointer or value form of the type is registered instead.
func (m *Mediator) noHandler(t reflect.Type) error {
	e := &NoHandlerError{Type: t}
	var other reflect.Type
	if t.Kind() == reflect.Pointer {
		other = t.Elem()
	} else {
		other = reflect.PointerTo(t)
	}
	if _, ok := m.reg.FindByType(other); ok {
		if t.Kind() == reflect.Pointer {
			e.Hint = fmt.Sprintf("a handler is registered for the value type %s: send the value, not a pointer", other)
		} else {
			e.Hint = fmt.Sprintf("a handler is registered for the pointer type %s: send a pointer", other)
		}
	}
	return e
}

// Invoke calls fn with arguments from the mediator's dig container, for an
// application that wants a service the container built (the lock provider,
// say). It is not meant for the request path.
func (m *Mediator) Invoke(fn any) error {
	if m == nil || m.state.Load() == stateBuilding {
		return fmt.Errorf("mediator: invoke: %w", m.unusable())
	}
	if err := m.container.Invoke(fn); err != nil {
		return fmt.Errorf("mediator: invoke: %w", err)
	}
	return nil
}

// Close runs the clean-up that constructors registered on the [Lifecycle]
// (closing the clients a provider created, say), last registered first, and
// joins their errors. Close is idempotent. From the moment Close is called,
// Send and Publish answer [ErrClosed] without calling a handler; requests
// already running are not waited for (stop sending first), and a lock they
// ask for after the provider closed is refused with an error matching
// ErrClosed too. Close on a nil m returns [ErrNilMediator], on a mediator
// Build did not return [ErrNotBuilt].
func (m *Mediator) Close(ctx context.Context) error {
	if m == nil {
		return ErrNilMediator
	}
	if !m.state.CompareAndSwap(stateOpen, stateClosed) && m.state.Load() != stateClosed {
		return ErrNotBuilt
	}
	return m.lifecycle.close(ctx)
}
