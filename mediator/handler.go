package mediator

import "context"

// Handler handles requests of type Req and answers with Res. Each request
// type has exactly one handler.
type Handler[Req, Res any] interface {
	Handle(ctx context.Context, req Req) (Res, error)
}

// HandlerFunc adapts a function to a [Handler].
type HandlerFunc[Req, Res any] func(ctx context.Context, req Req) (Res, error)

// Handle calls f(ctx, req).
func (f HandlerFunc[Req, Res]) Handle(ctx context.Context, req Req) (Res, error) {
	return f(ctx, req)
}

// Next continues the pipeline: the next behavior, or the handler after the
// last one. The request travels with the call, so a behavior may pass on a
// derived context or a changed request, and a chain composed once at Build
// needs no closure per Send.
type Next[Req, Res any] func(ctx context.Context, req Req) (Res, error)

// Behavior wraps the handling of one request type: it runs code before and
// after next, or decides not to call it at all.
type Behavior[Req, Res any] interface {
	Handle(ctx context.Context, req Req, next Next[Req, Res]) (Res, error)
}

// BehaviorFunc adapts a function to a [Behavior].
type BehaviorFunc[Req, Res any] func(ctx context.Context, req Req, next Next[Req, Res]) (Res, error)

// Handle calls f(ctx, req, next).
func (f BehaviorFunc[Req, Res]) Handle(ctx context.Context, req Req, next Next[Req, Res]) (Res, error) {
	return f(ctx, req, next)
}

// AnyNext continues the pipeline of a message whose type a [GlobalBehavior]
// does not know statically. The request passed on must have the same dynamic
// type as the one received.
type AnyNext func(ctx context.Context, req any) (any, error)

// GlobalBehavior wraps every message type. Because Go methods cannot take
// type parameters, it sees requests and responses as any; the boxing costs an
// allocation or two per Send, which per-type behaviors do not pay.
//
// A GlobalBehavior that also implements [Selector] is only applied to the
// message types it selects.
type GlobalBehavior interface {
	Handle(ctx context.Context, req any, next AnyNext) (any, error)
}

// GlobalBehaviorFunc adapts a function to a [GlobalBehavior].
type GlobalBehaviorFunc func(ctx context.Context, req any, next AnyNext) (any, error)

// Handle calls f(ctx, req, next).
func (f GlobalBehaviorFunc) Handle(ctx context.Context, req any, next AnyNext) (any, error) {
	return f(ctx, req, next)
}

// Selector is implemented by global behaviors that apply to some message
// types only. AppliesTo is called once per type at Build; an error fails Build.
type Selector interface {
	AppliesTo(t MessageType) (bool, error)
}

// NotificationHandler handles notifications of type N. A notification type may
// have any number of handlers.
type NotificationHandler[N any] interface {
	Handle(ctx context.Context, n N) error
}

// NotificationHandlerFunc adapts a function to a [NotificationHandler].
type NotificationHandlerFunc[N any] func(ctx context.Context, n N) error

// Handle calls f(ctx, n).
func (f NotificationHandlerFunc[N]) Handle(ctx context.Context, n N) error { return f(ctx, n) }
