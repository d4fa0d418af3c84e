package mediator

import (
	"context"
	"fmt"
	"reflect"
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
	requireNH     bool
	// onError is the error callback of a background Publish; nil when
	// Publish runs on the caller's goroutine. bgMu orders Close against the
	// start of a background delivery, bg counts those running.
	onError func(ctx context.Context, n any, err error)
	bgMu    sync.RWMutex
	bg      sync.WaitGroup
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

// Publish delivers n to every handler registered for N, through the
// notification behaviors of N, with the mediator's [PublishStrategy], and
// returns the handlers' errors (joined, or the first with [StopOnFirstError]).
// A type with no handler is not an error unless the mediator was built with
// [RequireNotificationHandlers]. A nil, closed or unbuilt m is, as for [Send].
// With [WithBackgroundPublish] Publish returns nil at once and the delivery
// runs on a goroutine of its own; see there.
//
// Publish looks the route up in a frozen table and calls the chain composed
// at Build: with the Sequential strategy and per-type behaviors it allocates
// nothing of its own.
func Publish[N Notifier](ctx context.Context, m *Mediator, n N) error {
	if m == nil || m.state.Load() != stateOpen {
		return m.unusable()
	}
	r, ok := m.notifications.Get(registry.KeyOf[N]()).(*notificationRoute[N])
	if !ok || (m.requireNH && len(r.calls) == 0) {
		if m.requireNH {
			return fmt.Errorf("%w for %s", ErrNoNotificationHandler, registry.TypeOf[N]())
		}
		return nil
	}
	if m.onError != nil {
		return publishBackground(ctx, m, r, n)
	}
	return r.publish(ctx, n)
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
//
// With [WithBackgroundPublish], Close first waits for the background
// deliveries already started (and their error callbacks) to end, then runs
// the clean-up, so a handler still running keeps its lock provider. When ctx
// ends first, Close returns ctx's error without running the clean-up; a
// later Close waits again.
func (m *Mediator) Close(ctx context.Context) error {
	if m == nil {
		return ErrNilMediator
	}
	m.bgMu.Lock()
	ok := m.state.CompareAndSwap(stateOpen, stateClosed) || m.state.Load() == stateClosed
	m.bgMu.Unlock()
	if !ok {
		return ErrNotBuilt
	}
	if m.onError != nil {
		if err := m.waitBackground(ctx); err != nil {
			return err
		}
	}
	return m.lifecycle.close(ctx)
}
