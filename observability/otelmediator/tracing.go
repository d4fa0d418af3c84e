package otelmediator

import (
	"context"
	"errors"
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// WithTracing opens a span around every Send and every Publish of the
// mediator, as global behaviors (outermost, so they also cover the locking
// behavior), and adds [WithLockEvents].
//
// A global behavior sees requests and responses as any, which costs the
// boxing allocations the mediator documents; [WithTypeTracing] and
// [WithNotificationTracing] have none. When no span could record (see the
// package documentation), the global behaviors apply to no message type at
// all, so they cost nothing.
func WithTracing(opts ...Option) mediator.Option {
	cfg := newConfig(opts)
	return mediator.Options("otelmediator.WithTracing",
		mediator.WithGlobalBehavior(func() mediator.GlobalBehavior {
			return &globalTracing{tracing: newTracing(cfg), spans: map[reflect.Type]*spanInfo{}}
		}),
		mediator.WithGlobalNotificationBehavior(func() mediator.GlobalNotificationBehavior {
			return &globalNotificationTracing{tracing: newTracing(cfg), spans: map[reflect.Type]*spanInfo{}}
		}),
		WithLockEvents())
}

// WithTypeTracing opens a span around every Send of Req. Register it before
// the type's locking behavior so that the span covers the lock, and add
// [WithLockEvents] once to the mediator for lock outcomes as span events,
// links to lock holders and the trace identity of the holders recorded.
func WithTypeTracing[Req mediator.Message[Res], Res any](opts ...Option) mediator.Option {
	cfg := newConfig(opts)
	return mediator.WithBehavior[Req, Res](func() mediator.Behavior[Req, Res] {
		return &typeTracing[Req, Res]{tracing: newTracing(cfg), span: newSpanInfo(reflect.TypeFor[Req](), opSend)}
	})
}

// WithNotificationTracing opens a span around every Publish of N: one span
// per Publish, covering every handler (and a notification lock, if any).
func WithNotificationTracing[N mediator.Notifier](opts ...Option) mediator.Option {
	cfg := newConfig(opts)
	return mediator.WithNotificationBehavior[N](func() mediator.NotificationBehavior[N] {
		return &notificationTracing[N]{tracing: newTracing(cfg), span: newSpanInfo(reflect.TypeFor[N](), opPublish)}
	})
}

// TraceIdentity returns the W3C hex trace and span ids of the span in ctx,
// or empty strings when ctx carries no valid span. [WithLockEvents]
// registers it with [locking.WithTraceIdentity].
func TraceIdentity(ctx context.Context) (traceID, spanID string) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return "", ""
	}
	return sc.TraceID().String(), sc.SpanID().String()
}

// tracing is the part every form shares: where spans come from and whether
// to start any, both decided at Build.
type tracing struct {
	tracer trace.Tracer
	// on is false when no span could record: a no-op provider, or the
	// global provider with no SDK installed behind it at Build.
	on bool
}

// globalPackage is the package of the provider OpenTelemetry serves as the
// global one until an application installs its own.
const globalPackage = "go.opentelemetry.io/otel/internal/global"

func newTracing(cfg config) *tracing {
	tp := cfg.tracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return &tracing{tracer: tp.Tracer(ScopeName), on: records(tp)}
}

// records tells whether spans of tp could record: false for the no-op
// providers of the API and for the global delegating provider while nothing
// is installed behind it (otel.SetTracerProvider replaces it, so seeing it
// means no SDK was installed).
func records(tp trace.TracerProvider) bool {
	if _, ok := tp.(noop.TracerProvider); ok {
		return false
	}
	rt := reflect.TypeOf(tp)
	if rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	switch {
	case rt.PkgPath() == globalPackage:
		return false
	case rt.PkgPath() == "go.opentelemetry.io/otel/trace" && rt.Name() == "noopTracerProvider":
		return false // the deprecated trace.NewNoopTracerProvider
	}
	return true
}

// Operation names, the values of OperationKey.
const (
	opSend    = "send"
	opPublish = "publish"
)

// spanInfo is what every span of one message type starts with, made once.
type spanInfo struct {
	name  string
	start []trace.SpanStartOption
}

func newSpanInfo(t reflect.Type, op string) *spanInfo {
	name := t.String()
	return &spanInfo{name: name, start: []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(MessageTypeKey.String(name), OperationKey.String(op)),
	}}
}

// run calls next inside a span; a panic ends the span as failed and goes on.
func run[Req, Res any](ctx context.Context, t *tracing, info *spanInfo, req Req, next func(context.Context, Req) (Res, error)) (Res, error) {
	ctx, span := t.tracer.Start(ctx, info.name, info.start...)
	ended := false
	defer func() {
		if !ended {
			span.SetAttributes(OutcomeKey.String("panic"))
			span.SetStatus(codes.Error, "panic")
			span.End()
		}
	}()
	res, err := next(ctx, req)
	span.SetAttributes(OutcomeKey.String(outcome(err)))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	ended = true
	span.End()
	return res, err
}

// outcome names how a Send ended, for OutcomeKey.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, locking.ErrNotAcquired):
		return "lock_not_acquired"
	case errors.Is(err, locking.ErrUnavailable):
		return "lock_unavailable"
	case errors.Is(err, locking.ErrLockLost):
		return "lock_lost"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	}
	return "error"
}

// typeTracing is the per-type request behavior.
type typeTracing[Req, Res any] struct {
	*tracing
	span *spanInfo
}

// Handle runs next inside a span named after Req.
func (b *typeTracing[Req, Res]) Handle(ctx context.Context, req Req, next mediator.Next[Req, Res]) (Res, error) {
	if !b.on {
		return next(ctx, req)
	}
	return run(ctx, b.tracing, b.span, req, next)
}

// globalTracing is the global request behavior. spans is filled by
// AppliesTo while Build runs and only read afterwards.
type globalTracing struct {
	*tracing
	spans map[reflect.Type]*spanInfo
}

// AppliesTo prepares the span of every message type; it applies to all,
// or to none when no span could record.
func (b *globalTracing) AppliesTo(t mediator.MessageType) (bool, error) {
	if !b.on {
		return false, nil
	}
	if _, ok := b.spans[t.Type]; !ok {
		b.spans[t.Type] = newSpanInfo(t.Type, opSend)
	}
	return true, nil
}

// Handle runs next inside a span named after the request's type.
func (b *globalTracing) Handle(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
	info, ok := b.spans[reflect.TypeOf(req)]
	if !ok {
		info = newSpanInfo(reflect.TypeOf(req), opSend)
	}
	return run(ctx, b.tracing, info, req, next)
}

// notificationTracing is the per-type notification behavior.
type notificationTracing[N any] struct {
	*tracing
	span *spanInfo
}

// Handle runs the Publish of n inside a span named after N.
func (b *notificationTracing[N]) Handle(ctx context.Context, n N, next mediator.NotificationNext[N]) error {
	if !b.on {
		return next(ctx, n)
	}
	_, err := run(ctx, b.tracing, b.span, n, func(ctx context.Context, n N) (struct{}, error) {
		return struct{}{}, next(ctx, n)
	})
	return err
}

// globalNotificationTracing is the global notification behavior, filled
// like globalTracing.
type globalNotificationTracing struct {
	*tracing
	spans map[reflect.Type]*spanInfo
}

// AppliesTo prepares the span of every notification type; it applies to
// all, or to none when no span could record.
func (b *globalNotificationTracing) AppliesTo(t mediator.MessageType) (bool, error) {
	if !b.on {
		return false, nil
	}
	if _, ok := b.spans[t.Type]; !ok {
		b.spans[t.Type] = newSpanInfo(t.Type, opPublish)
	}
	return true, nil
}

// Handle runs the Publish of n inside a span named after its type.
func (b *globalNotificationTracing) Handle(ctx context.Context, n any, next mediator.AnyNotificationNext) error {
	info, ok := b.spans[reflect.TypeOf(n)]
	if !ok {
		info = newSpanInfo(reflect.TypeOf(n), opPublish)
	}
	_, err := run(ctx, b.tracing, info, n, func(ctx context.Context, n any) (struct{}, error) {
		return struct{}{}, next(ctx, n)
	})
	return err
}
