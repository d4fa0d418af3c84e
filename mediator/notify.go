package mediator

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/turbomediator/turbomediator-go/registry"
)

// NotificationNext continues a notification pipeline: the next behavior, or
// the delivery after the last one. Like [Next], the notification travels
// with the call, so a chain composed once at Build needs no closure per
// Publish.
type NotificationNext[N any] func(ctx context.Context, n N) error

// NotificationBehavior wraps the delivery of notifications of type N. Where
// it sits depends on how it is registered:
//   - [WithNotificationBehavior]: around the whole Publish, once per Publish,
//     whatever the number of handlers; next delivers to every handler with
//     the mediator's [PublishStrategy] and returns their joined errors. This
//     is the place for a lock (one acquisition covers every handler), a
//     trace span, a metric.
//   - [WithNotificationHandlerBehavior]: around each handler's call
//     separately; next calls that one handler. This is the place for a
//     retry: a failing handler is called again without calling the others
//     twice.
type NotificationBehavior[N any] interface {
	Handle(ctx context.Context, n N, next NotificationNext[N]) error
}

// NotificationBehaviorFunc adapts a function to a [NotificationBehavior].
type NotificationBehaviorFunc[N any] func(ctx context.Context, n N, next NotificationNext[N]) error

// Handle calls f(ctx, n, next).
func (f NotificationBehaviorFunc[N]) Handle(ctx context.Context, n N, next NotificationNext[N]) error {
	return f(ctx, n, next)
}

// AnyNotificationNext continues the pipeline of a notification whose type a
// [GlobalNotificationBehavior] does not know statically. The notification
// passed on must have the same dynamic type as the one received.
type AnyNotificationNext func(ctx context.Context, n any) error

// GlobalNotificationBehavior wraps the whole Publish of every notification
// type (or, if it implements [Selector], of the types it selects). It sees
// the notification as any: boxing it costs an allocation per Publish, which
// per-type notification behaviors do not pay.
type GlobalNotificationBehavior interface {
	Handle(ctx context.Context, n any, next AnyNotificationNext) error
}

// GlobalNotificationBehaviorFunc adapts a function to a
// [GlobalNotificationBehavior].
type GlobalNotificationBehaviorFunc func(ctx context.Context, n any, next AnyNotificationNext) error

// Handle calls f(ctx, n, next).
func (f GlobalNotificationBehaviorFunc) Handle(ctx context.Context, n any, next AnyNotificationNext) error {
	return f(ctx, n, next)
}

// publishBehaviorsKey and handlerBehaviorsKey file a notification type's
// behaviors in its registry entry (whose Behaviors hold its handlers).
type (
	publishBehaviorsKey struct{}
	handlerBehaviorsKey struct{}
)

// WithNotificationBehavior adds a behavior around the whole Publish of
// notifications of type N: it runs once per Publish and its next delivers to
// every handler. bh is a [NotificationBehavior][N] value (a
// [NotificationBehaviorFunc] too), a func(context.Context, N,
// NotificationNext[N]) error, or a constructor of one whose parameters the
// container supplies (it may ask for the [MessageType] it is built for).
//
// Order: global notification behaviors ([WithGlobalNotificationBehavior])
// are outermost, then the type's own; in each group the first registered is
// outermost. A type with behaviors but no handler runs its behaviors and
// delivers to nobody.
func WithNotificationBehavior[N Notifier](bh any) Option {
	src := callerSource()
	return newOption("WithNotificationBehavior["+typeName[N]()+"]", src, func(b *Builder) error {
		e, err := notificationEntry[N](b)
		if err != nil {
			return err
		}
		if fn, ok := bh.(func(context.Context, N, NotificationNext[N]) error); ok && fn != nil {
			bh = NotificationBehaviorFunc[N](fn)
		}
		e.AddOption(publishBehaviorsKey{}, registry.Registration{Value: bh, Source: src, By: b.by("WithNotificationBehavior")})
		return nil
	})
}

// WithNotificationHandlerBehavior adds a behavior around each handler of
// notifications of type N separately: with three handlers it runs three
// times per Publish, and its next calls one handler. It takes the same forms
// as [WithNotificationBehavior]; Build makes one instance per handler (a
// constructor is called once per handler), and composes each handler's chain
// once. The first registered is outermost.
//
// Use it for what concerns one handler: a retry (a failed handler is called
// again without the others being called twice), a timeout, a log line naming
// the handler.
func WithNotificationHandlerBehavior[N Notifier](bh any) Option {
	src := callerSource()
	return newOption("WithNotificationHandlerBehavior["+typeName[N]()+"]", src, func(b *Builder) error {
		e, err := notificationEntry[N](b)
		if err != nil {
			return err
		}
		if fn, ok := bh.(func(context.Context, N, NotificationNext[N]) error); ok && fn != nil {
			bh = NotificationBehaviorFunc[N](fn)
		}
		e.AddOption(handlerBehaviorsKey{}, registry.Registration{Value: bh, Source: src, By: b.by("WithNotificationHandlerBehavior")})
		return nil
	})
}

// WithGlobalNotificationBehavior adds a behavior around the whole Publish of
// every notification type that has a handler or a behavior (or, if it
// implements [Selector], of the types it selects). bh is a
// [GlobalNotificationBehavior] value, a func(context.Context, any,
// AnyNotificationNext) error, or a constructor of one. Global notification
// behaviors run outside the per-type ones, the first registered outermost.
func WithGlobalNotificationBehavior(bh any) Option {
	src := callerSource()
	return newOption("WithGlobalNotificationBehavior", src, func(b *Builder) error {
		if fn, ok := bh.(func(context.Context, any, AnyNotificationNext) error); ok && fn != nil {
			bh = GlobalNotificationBehaviorFunc(fn)
		}
		b.notifGlobals = append(b.notifGlobals, registry.Registration{Value: bh, Source: src, By: b.by("WithGlobalNotificationBehavior")})
		return nil
	})
}

func notificationEntry[N Notifier](b *Builder) (*registry.Entry, error) {
	e, err := b.notifs.Entry(registry.KeyOf[N](), registry.TypeOf[N]())
	if err != nil {
		return nil, err
	}
	if e.Compose == nil {
		e.Compose = notificationComposer[N]{}
	}
	return e, nil
}

type globalNotificationBehavior struct {
	GlobalNotificationBehavior
	reg registry.Registration
}

// notificationRoute is what a notification type's Table slot holds after
// Build.
type notificationRoute[N any] struct {
	// calls are the handlers, each wrapped in its per-handler behaviors.
	calls []NotificationNext[N]
	// direct are the handlers themselves when no per-handler behavior
	// wraps them: the sequential strategies call them without the extra
	// indirection of a method value.
	direct []NotificationHandler[N]
	// pipeline is the whole-Publish chain ending in deliver; nil when the
	// type has no whole-Publish behavior.
	pipeline NotificationNext[N]
	strategy PublishStrategy
	limit    int // bound on concurrent handlers of a Parallel Publish; 0 none
}

// deliver runs every handler of one Publish with the route's strategy.
func (r *notificationRoute[N]) deliver(ctx context.Context, n N) error {
	switch r.strategy {
	case Parallel:
		return publishParallel(ctx, r.calls, n, r.limit)
	case StopOnFirstError:
		if r.direct != nil {
			for _, h := range r.direct {
				if err := h.Handle(ctx, n); err != nil {
					return err
				}
			}
			return nil
		}
		for _, call := range r.calls {
			if err := call(ctx, n); err != nil {
				return err
			}
		}
		return nil
	}
	var errs []error
	if r.direct != nil {
		for _, h := range r.direct {
			if err := h.Handle(ctx, n); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for _, call := range r.calls {
		if err := call(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// publish is one Publish after the route was found.
func (r *notificationRoute[N]) publish(ctx context.Context, n N) error {
	if r.pipeline != nil {
		return r.pipeline(ctx, n)
	}
	return r.deliver(ctx, n)
}

// publishParallel runs every call in a goroutine of its own, or, with a
// limit, in at most limit goroutines that take the calls in registration
// order; it waits for all and joins their errors in registration order.
func publishParallel[N any](ctx context.Context, calls []NotificationNext[N], n N, limit int) error {
	if len(calls) == 1 {
		// No goroutine for one handler, but the same contract: a panic
		// comes back as a *PanicError.
		return callRecovered(ctx, calls[0], n)
	}
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	if limit <= 0 || limit >= len(calls) {
		for i, call := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = callRecovered(ctx, call, n)
			}()
		}
	} else {
		var taken atomic.Int64
		for range limit {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(taken.Add(1) - 1)
					if i >= len(calls) {
						return
					}
					errs[i] = callRecovered(ctx, calls[i], n)
				}
			}()
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// callRecovered calls call and turns a panic into a *PanicError.
func callRecovered[N any](ctx context.Context, call NotificationNext[N], n N) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return call(ctx, n)
}

type notificationComposer[N any] struct{}

func (notificationComposer[N]) compose(b *Builder, e *registry.Entry, _ []globalBehavior) (any, error) {
	r := &notificationRoute[N]{calls: make([]NotificationNext[N], 0, len(e.Behaviors)), strategy: b.strategy, limit: b.publishLimit}
	mt := MessageType{Type: e.Type, entry: e}
	perHandler := e.Options(handlerBehaviorsKey{})
	perPublish := e.Options(publishBehaviorsKey{})
	var scope scoper = b.container
	if len(perHandler)+len(perPublish) > 0 {
		s := b.container.Scope(e.Type.String())
		if err := s.Provide(func() MessageType { return mt }); err != nil {
			return nil, err
		}
		scope = s
	}
	for _, reg := range e.Behaviors {
		h, err := resolve[NotificationHandler[N]](b.container, reg, e.Type, "notification handler")
		if err != nil {
			return nil, err
		}
		call := NotificationNext[N](h.Handle)
		// One instance of each per-handler behavior per handler, linked
		// from the innermost (last registered) outwards.
		behaviors := make([]NotificationBehavior[N], len(perHandler))
		for i, v := range perHandler {
			bh, err := resolve[NotificationBehavior[N]](scope, v.(registry.Registration), e.Type, "notification behavior")
			if err != nil {
				return nil, err
			}
			behaviors[i] = bh
		}
		for i := len(behaviors) - 1; i >= 0; i-- {
			call = chainNotification(behaviors[i], call)
		}
		r.calls = append(r.calls, call)
		if len(perHandler) == 0 {
			r.direct = append(r.direct, h)
		}
	}

	next := NotificationNext[N](r.deliver)
	wrapped := false
	behaviors := make([]NotificationBehavior[N], len(perPublish))
	for i, v := range perPublish {
		bh, err := resolve[NotificationBehavior[N]](scope, v.(registry.Registration), e.Type, "notification behavior")
		if err != nil {
			return nil, err
		}
		behaviors[i] = bh
	}
	if err := checkNotificationGuard(b, e, behaviors); err != nil {
		return nil, err
	}
	for i := len(behaviors) - 1; i >= 0; i-- {
		next = chainNotification(behaviors[i], next)
		wrapped = true
	}
	for i := len(b.notifGlobalsResolved) - 1; i >= 0; i-- {
		g := b.notifGlobalsResolved[i]
		if s, ok := g.GlobalNotificationBehavior.(Selector); ok {
			applies, err := s.AppliesTo(mt)
			if err != nil {
				return nil, &RegistrationError{Type: e.Type, By: g.reg.By, Source: g.reg.Source, Err: err}
			}
			if !applies {
				continue
			}
		}
		next = chainGlobalNotification[N](g.GlobalNotificationBehavior, next)
		wrapped = true
	}
	if wrapped {
		r.pipeline = next
	}
	return r, nil
}

// chainNotification makes the one closure that links bh to the rest of the
// chain, at Build.
func chainNotification[N any](bh NotificationBehavior[N], next NotificationNext[N]) NotificationNext[N] {
	return func(ctx context.Context, n N) error { return bh.Handle(ctx, n, next) }
}

func chainGlobalNotification[N any](g GlobalNotificationBehavior, next NotificationNext[N]) NotificationNext[N] {
	anyNext := func(ctx context.Context, v any) error {
		n, ok := v.(N)
		if !ok {
			return fmt.Errorf("mediator: a global notification behavior passed on a %T where %s was published", v, typeName[N]())
		}
		return next(ctx, n)
	}
	return func(ctx context.Context, n N) error { return g.Handle(ctx, n, anyNext) }
}

// checkNotificationGuard fails Build for a notification type with handlers
// that carries a [Guarded] marker none of its whole-Publish behaviors,
// per-type or global, guards: its handlers would run unguarded. Per-handler
// behaviors do not count (a lock per handler is not the lock around the
// Publish), nor do request behaviors.
func checkNotificationGuard[N any](b *Builder, e *registry.Entry, behaviors []NotificationBehavior[N]) error {
	if len(e.Behaviors) == 0 || len(b.notifGlobalsResolved) < len(b.notifGlobals) {
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
	for _, gb := range b.notifGlobalsResolved {
		if gd, ok := gb.GlobalNotificationBehavior.(Guardian); ok && gd.Guards(g.Name, e.Type) {
			return nil
		}
	}
	if g.UnguardedNotification != nil {
		return g.UnguardedNotification(e.Type, e.Behaviors[0].Source)
	}
	return fmt.Errorf("%s: WithNotificationHandler (at %s): the type carries the %s marker but no notification behavior guards it", e.Type, e.Behaviors[0].Source, g.Name)
}
