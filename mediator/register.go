package mediator

import (
	"context"
	"fmt"
	"reflect"

	"go.uber.org/dig"

	"github.com/turbomediator/turbomediator-go/registry"
)

// WithHandler registers the handler of requests of type Req. h is one of:
//   - a [Handler][Req, Res] value (a [HandlerFunc] too),
//   - a func(context.Context, Req) (Res, error),
//   - a constructor func(deps...) H or func(deps...) (H, error), where H
//     implements Handler[Req, Res]; Build calls it once and the dig container
//     supplies deps (see [Provide]).
//
// Req and *Req are different message types. A second handler for the same
// type fails Build, naming both registrations.
func WithHandler[Req Message[Res], Res any](h any) Option {
	src := callerSource()
	return newOption("WithHandler["+typeName[Req]()+"]", src, func(b *Builder) error {
		e, err := requestEntry[Req, Res](b)
		if err != nil {
			return err
		}
		if fn, ok := h.(func(context.Context, Req) (Res, error)); ok && fn != nil {
			h = HandlerFunc[Req, Res](fn)
		}
		return e.SetHandler(registry.Registration{Value: h, Source: src})
	})
}

// WithBehavior adds a behavior to the pipeline of requests of type Req. bh is
// a [Behavior][Req, Res] value (a [BehaviorFunc] too), a
// func(context.Context, Req, Next[Req, Res]) (Res, error), or a constructor
// of a Behavior whose parameters the container supplies; a constructor may
// also ask for the [MessageType] it is built for.
//
// Order: global behaviors ([WithGlobalBehavior]) are outermost, then per-type
// behaviors; within each group the first registered runs first (outermost).
func WithBehavior[Req Message[Res], Res any](bh any) Option {
	src := callerSource()
	return newOption("WithBehavior["+typeName[Req]()+"]", src, func(b *Builder) error {
		e, err := requestEntry[Req, Res](b)
		if err != nil {
			return err
		}
		if fn, ok := bh.(func(context.Context, Req, Next[Req, Res]) (Res, error)); ok && fn != nil {
			bh = BehaviorFunc[Req, Res](fn)
		}
		e.Behaviors = append(e.Behaviors, registry.Registration{Value: bh, Source: src})
		return nil
	})
}

// WithGlobalBehavior adds a behavior to the pipeline of every request type
// (or, if it implements [Selector], of the types it selects). bh is a
// [GlobalBehavior] value, a func(context.Context, any, AnyNext) (any, error),
// or a constructor of a GlobalBehavior. Global behaviors run outside the
// per-type ones, the first registered outermost.
func WithGlobalBehavior(bh any) Option {
	src := callerSource()
	return newOption("WithGlobalBehavior", src, func(b *Builder) error {
		if fn, ok := bh.(func(context.Context, any, AnyNext) (any, error)); ok && fn != nil {
			bh = GlobalBehaviorFunc(fn)
		}
		b.globals = append(b.globals, registry.Registration{Value: bh, Source: src})
		return nil
	})
}

// WithMessageOption attaches value under key to the message type Req, for the
// behaviors of that type to read at Build through [MessageType.Options]. Keys
// are owned by the behavior package that defines them (use an unexported key
// type). Values given for one type are never seen by another.
func WithMessageOption[Req any](key, value any) Option {
	src := callerSource()
	return newOption("WithMessageOption["+typeName[Req]()+"]", src, func(b *Builder) error {
		e, err := b.reg.Entry(registry.KeyOf[Req](), registry.TypeOf[Req]())
		if err != nil {
			return err
		}
		e.AddOption(key, value)
		return nil
	})
}

// WithNotificationHandler adds a handler for notifications of type N; a type
// may have many. h is a [NotificationHandler][N] value, a
// func(context.Context, N) error, or a constructor of a handler.
func WithNotificationHandler[N Notifier](h any) Option {
	src := callerSource()
	return newOption("WithNotificationHandler["+typeName[N]()+"]", src, func(b *Builder) error {
		e, err := b.notifs.Entry(registry.KeyOf[N](), registry.TypeOf[N]())
		if err != nil {
			return err
		}
		if e.Compose == nil {
			e.Compose = notificationComposer[N]{}
		}
		if fn, ok := h.(func(context.Context, N) error); ok && fn != nil {
			h = NotificationHandlerFunc[N](fn)
		}
		e.Behaviors = append(e.Behaviors, registry.Registration{Value: h, Source: src})
		return nil
	})
}

// Provide puts the application's own services in the dig container, so that
// handler and behavior constructors can ask for them. constructor follows dig's
// rules: func(deps...) (T, error) or func(deps...) T; opts are dig's (dig.As,
// dig.Name, ...). dig calls a constructor at most once, when first needed.
func Provide(constructor any, opts ...dig.ProvideOption) Option {
	src := callerSource()
	return newOption("Provide", src, func(b *Builder) error {
		if err := b.container.Provide(constructor, opts...); err != nil {
			return fmt.Errorf("dig: %w", err)
		}
		return nil
	})
}

// Invoke runs fn through the container at the end of Build, after every
// pipeline is composed; an error it returns fails Build. Extension packages
// use it to check their services (a provider can reach its server, say).
func Invoke(fn any) Option {
	src := callerSource()
	return newOption("Invoke", src, func(b *Builder) error {
		b.invokes = append(b.invokes, registry.Registration{Value: fn, Source: src})
		return nil
	})
}

// PublishStrategy says how Publish runs the handlers of one notification.
type PublishStrategy int

const (
	// Sequential runs the handlers one after another in registration order,
	// all of them even when one fails, and joins their errors. The default.
	Sequential PublishStrategy = iota
	// Parallel runs every handler in its own goroutine, waits for all, and
	// joins their errors; a panic becomes a *PanicError.
	Parallel
)

// String returns "Sequential" or "Parallel".
func (s PublishStrategy) String() string {
	switch s {
	case Sequential:
		return "Sequential"
	case Parallel:
		return "Parallel"
	}
	return fmt.Sprintf("PublishStrategy(%d)", int(s))
}

// WithPublishStrategy sets how Publish runs handlers (default [Sequential]).
func WithPublishStrategy(s PublishStrategy) Option {
	src := callerSource()
	return newOption("WithPublishStrategy("+s.String()+")", src, func(b *Builder) error {
		if s != Sequential && s != Parallel {
			return fmt.Errorf("unknown %s", s)
		}
		b.strategy = s
		return nil
	})
}

// RequireNotificationHandlers makes Publish fail with
// [ErrNoNotificationHandler] for a notification type with no handler. Without
// it such a Publish does nothing and returns nil.
func RequireNotificationHandlers() Option {
	src := callerSource()
	return newOption("RequireNotificationHandlers", src, func(b *Builder) error {
		b.requireNH = true
		return nil
	})
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

func requestEntry[Req Message[Res], Res any](b *Builder) (*registry.Entry, error) {
	e, err := b.reg.Entry(registry.KeyOf[Req](), registry.TypeOf[Req]())
	if err != nil {
		return nil, err
	}
	if e.Compose == nil {
		e.Compose = requestComposer[Req, Res]{}
	}
	return e, nil
}

// route is what a request type's Table slot holds after Build.
type route[Req, Res any] struct {
	// handler is called directly when the type has no behaviors, saving
	// one indirect call.
	handler Handler[Req, Res]
	// pipeline is the composed chain; nil when there are no behaviors.
	pipeline Next[Req, Res]
}

type requestComposer[Req, Res any] struct{}

func (requestComposer[Req, Res]) compose(b *Builder, e *registry.Entry, globals []globalBehavior) (any, error) {
	h, err := resolve[Handler[Req, Res]](b.container, *e.Handler, "handler for "+e.Type.String())
	if err != nil {
		return nil, err
	}
	r := &route[Req, Res]{handler: h}
	next := Next[Req, Res](h.Handle)
	wrapped := false
	mt := MessageType{Type: e.Type, entry: e}
	var behaviors []Behavior[Req, Res]
	if len(e.Behaviors) > 0 {
		scope := b.container.Scope(e.Type.String())
		if err := scope.Provide(func() MessageType { return mt }); err != nil {
			return nil, err
		}
		// Constructors run in registration order; the chain is then linked
		// from the innermost (last registered) outwards.
		behaviors = make([]Behavior[Req, Res], len(e.Behaviors))
		for i, reg := range e.Behaviors {
			bh, err := resolve[Behavior[Req, Res]](scope, reg, "behavior for "+e.Type.String())
			if err != nil {
				return nil, err
			}
			behaviors[i] = bh
		}
		for i := len(behaviors) - 1; i >= 0; i-- {
			next = chain(behaviors[i], next)
			wrapped = true
		}
	}
	for i := len(globals) - 1; i >= 0; i-- {
		g := globals[i]
		if s, ok := g.GlobalBehavior.(Selector); ok {
			applies, err := s.AppliesTo(mt)
			if err != nil {
				return nil, fmt.Errorf("global behavior registered at %s, for %s: %w", g.source, e.Type, err)
			}
			if !applies {
				continue
			}
		}
		next = chainGlobal(g.GlobalBehavior, next)
		wrapped = true
	}
	if err := checkGuards(b, e, behaviors, globals); err != nil {
		return nil, err
	}
	if wrapped {
		r.pipeline = next
	}
	return r, nil
}

// chain makes the one closure that links bh to the rest of the chain; it is
// built at Build, so Send creates none.
func chain[Req, Res any](bh Behavior[Req, Res], next Next[Req, Res]) Next[Req, Res] {
	return func(ctx context.Context, req Req) (Res, error) {
		return bh.Handle(ctx, req, next)
	}
}

func chainGlobal[Req, Res any](g GlobalBehavior, next Next[Req, Res]) Next[Req, Res] {
	anyNext := func(ctx context.Context, req any) (any, error) {
		r, ok := req.(Req)
		if !ok {
			var zero Res
			return zero, fmt.Errorf("mediator: a global behavior passed on a %T where %s was sent", req, reflect.TypeFor[Req]())
		}
		return next(ctx, r)
	}
	return func(ctx context.Context, req Req) (Res, error) {
		out, err := g.Handle(ctx, req, anyNext)
		res, _ := out.(Res)
		return res, err
	}
}

type notificationRoute[N any] struct {
	handlers []NotificationHandler[N]
}

type notificationComposer[N any] struct{}

func (notificationComposer[N]) compose(b *Builder, e *registry.Entry, _ []globalBehavior) (any, error) {
	r := &notificationRoute[N]{handlers: make([]NotificationHandler[N], 0, len(e.Behaviors))}
	for _, reg := range e.Behaviors {
		h, err := resolve[NotificationHandler[N]](b.container, reg, "notification handler for "+e.Type.String())
		if err != nil {
			return nil, err
		}
		r.handlers = append(r.handlers, h)
	}
	return r, nil
}
