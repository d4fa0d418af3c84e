package mediator

import (
	"context"
	"fmt"
	"iter"
	"reflect"

	"github.com/turbomediator/turbomediator-go/registry"
)

// StreamMessage is the constraint of [Stream]: the request type embeds
// [StreamRequest], which fixes the type T of the items it streams.
type StreamMessage[T any] interface {
	mediatorStream() T
}

// StreamRequest marks a request answered by a stream of T rather than one
// response. Embed it:
//
//	type ListTransactions struct {
//		mediator.StreamRequest[Transaction]
//		AccountID string
//	}
//	for tx, err := range mediator.Stream(ctx, m, ListTransactions{AccountID: "42"}) { ... }
type StreamRequest[T any] struct{}

func (StreamRequest[T]) mediatorStream() (t T) { return t }

// StreamHandler answers requests of type Req with a stream of T. The
// sequence it returns is ranged over once, by the caller of [Stream]: an
// item with a non-nil error reports a failure (the consumer usually stops
// there), and the handler stops when yield returns false (the consumer
// broke out of its loop) or ctx ends. Each stream request type has exactly
// one handler.
type StreamHandler[Req, T any] interface {
	Handle(ctx context.Context, req Req) iter.Seq2[T, error]
}

// StreamHandlerFunc adapts a function to a [StreamHandler].
type StreamHandlerFunc[Req, T any] func(ctx context.Context, req Req) iter.Seq2[T, error]

// Handle calls f(ctx, req).
func (f StreamHandlerFunc[Req, T]) Handle(ctx context.Context, req Req) iter.Seq2[T, error] {
	return f(ctx, req)
}

// StreamNext continues a stream pipeline: the next behavior, or the handler.
type StreamNext[Req, T any] func(ctx context.Context, req Req) iter.Seq2[T, error]

// StreamBehavior wraps the stream of one request type. It returns the
// sequence the caller ranges over, usually one that ranges over next's and
// passes items on; code in it before the range runs when the consumer
// starts ranging, code after when the stream ends, fails or the consumer
// stops (yield returned false: do not call it again). A pass-through
// behavior returns next(ctx, req) as it is.
type StreamBehavior[Req, T any] interface {
	Handle(ctx context.Context, req Req, next StreamNext[Req, T]) iter.Seq2[T, error]
}

// StreamBehaviorFunc adapts a function to a [StreamBehavior].
type StreamBehaviorFunc[Req, T any] func(ctx context.Context, req Req, next StreamNext[Req, T]) iter.Seq2[T, error]

// Handle calls f(ctx, req, next).
func (f StreamBehaviorFunc[Req, T]) Handle(ctx context.Context, req Req, next StreamNext[Req, T]) iter.Seq2[T, error] {
	return f(ctx, req, next)
}

// WithStreamHandler registers the handler of stream requests of type Req. h
// is a [StreamHandler][Req, T] value (a [StreamHandlerFunc] too), a
// func(context.Context, Req) iter.Seq2[T, error], or a constructor of one
// whose parameters the container supplies. A second handler for the same
// type fails Build, naming both registrations.
func WithStreamHandler[Req StreamMessage[T], T any](h any) Option {
	src := callerSource()
	return newOption("WithStreamHandler["+typeName[Req]()+"]", src, func(b *Builder) error {
		e, err := streamEntry[Req, T](b)
		if err != nil {
			return err
		}
		if fn, ok := h.(func(context.Context, Req) iter.Seq2[T, error]); ok && fn != nil {
			h = StreamHandlerFunc[Req, T](fn)
		}
		return e.SetHandler(registry.Registration{Value: h, Source: src, By: b.by("WithStreamHandler")})
	})
}

// WithStreamBehavior adds a behavior to the pipeline of stream requests of
// type Req: a [StreamBehavior][Req, T] value (a [StreamBehaviorFunc] too), a
// func(context.Context, Req, StreamNext[Req, T]) iter.Seq2[T, error], or a
// constructor of one (it may ask for the [MessageType]). The first
// registered is outermost. Global request behaviors do not wrap streams.
func WithStreamBehavior[Req StreamMessage[T], T any](bh any) Option {
	src := callerSource()
	return newOption("WithStreamBehavior["+typeName[Req]()+"]", src, func(b *Builder) error {
		e, err := streamEntry[Req, T](b)
		if err != nil {
			return err
		}
		if fn, ok := bh.(func(context.Context, Req, StreamNext[Req, T]) iter.Seq2[T, error]); ok && fn != nil {
			bh = StreamBehaviorFunc[Req, T](fn)
		}
		e.Behaviors = append(e.Behaviors, registry.Registration{Value: bh, Source: src, By: b.by("WithStreamBehavior")})
		return nil
	})
}

func streamEntry[Req StreamMessage[T], T any](b *Builder) (*registry.Entry, error) {
	e, err := b.reg.Entry(registry.KeyOf[Req](), registry.TypeOf[Req]())
	if err != nil {
		return nil, err
	}
	if e.Compose == nil {
		e.Compose = streamComposer[Req, T]{}
	}
	return e, nil
}

// Stream runs req through its type's stream behaviors and handler and
// returns the stream of items, to range over once:
//
//	for tx, err := range mediator.Stream(ctx, m, ListTransactions{AccountID: "42"}) {
//		if err != nil {
//			return err
//		}
//		...
//	}
//
// Nothing runs until the range starts; breaking out of the loop stops the
// handler, and the behaviors see the stream end (a lock is released then).
// A type without a handler, or a nil, closed or unbuilt m, gives a stream
// of one item: the zero T and the error ([ErrNoHandler], [ErrNilMediator],
// [ErrClosed], [ErrNotBuilt]).
//
// Stream looks the route up in a frozen table and calls the chain composed
// at Build: through pass-through behaviors it allocates nothing of its own.
func Stream[Req StreamMessage[T], T any](ctx context.Context, m *Mediator, req Req) iter.Seq2[T, error] {
	if m == nil || m.state.Load() != stateOpen {
		return failedStream[T](m.unusable())
	}
	r, ok := m.lookupRoute(registry.KeyOf[Req]()).(*streamRoute[Req, T])
	if !ok {
		return failedStream[T](m.noHandler(registry.KeyOf[Req]().Type()))
	}
	return r.pipeline(ctx, req)
}

// failedStream yields err once.
func failedStream[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		yield(zero, err)
	}
}

// streamRoute is what a stream request type's Table slot holds after Build.
type streamRoute[Req, T any] struct {
	pipeline StreamNext[Req, T]
}

type streamComposer[Req, T any] struct{}

func (streamComposer[Req, T]) compose(b *Builder, e *registry.Entry, _ []globalBehavior) (any, error) {
	h, err := resolve[StreamHandler[Req, T]](b.container, *e.Handler, e.Type, "stream handler")
	if err != nil {
		return nil, err
	}
	next := StreamNext[Req, T](h.Handle)
	mt := MessageType{Type: e.Type, entry: e}
	behaviors := make([]StreamBehavior[Req, T], len(e.Behaviors))
	if len(e.Behaviors) > 0 {
		scope := b.container.Scope(e.Type.String())
		if err := scope.Provide(func() MessageType { return mt }); err != nil {
			return nil, err
		}
		for i, reg := range e.Behaviors {
			bh, err := resolve[StreamBehavior[Req, T]](scope, reg, e.Type, "stream behavior")
			if err != nil {
				return nil, err
			}
			behaviors[i] = bh
		}
	}
	if err := checkStreamGuard(b, e, behaviors); err != nil {
		return nil, err
	}
	for i := len(behaviors) - 1; i >= 0; i-- {
		next = chainStream(behaviors[i], next)
	}
	return &streamRoute[Req, T]{pipeline: next}, nil
}

// chainStream makes the one closure that links bh to the rest of the chain,
// at Build.
func chainStream[Req, T any](bh StreamBehavior[Req, T], next StreamNext[Req, T]) StreamNext[Req, T] {
	return func(ctx context.Context, req Req) iter.Seq2[T, error] { return bh.Handle(ctx, req, next) }
}

// checkStreamGuard fails Build for a stream type carrying a [Guarded]
// marker that none of its stream behaviors guards.
func checkStreamGuard[Req, T any](b *Builder, e *registry.Entry, behaviors []StreamBehavior[Req, T]) error {
	if b.globalFailed {
		return nil
	}
	g, ok := guardOf(e.Type)
	if !ok {
		return nil
	}
	for _, bh := range behaviors {
		if gd, ok := bh.(Guardian); ok && gd.Guards(g.Name, e.Type) {
			return nil
		}
	}
	if g.UnguardedStream != nil {
		return g.UnguardedStream(e.Type, reflect.TypeFor[T](), e.Handler.Source)
	}
	return fmt.Errorf("%s: WithStreamHandler (at %s): the type carries the %s marker but no stream behavior guards it", e.Type, e.Handler.Source, g.Name)
}
