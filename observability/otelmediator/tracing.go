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

// WithTracing opens a span around every Send of the mediator, as a global
// behavior (outermost, so it also covers the locking behavior), and adds
// lock outcomes to the spans ([WithLockEvents]). Publish is not covered: the
// mediator has no behaviors for notifications.
//
// A global behavior sees requests and responses as any, which costs the
// boxing allocations the mediator documents; [WithTypeTracing] has none.
func WithTracing(opts ...Option) mediator.Option {
	cfg := newConfig(opts)
	return mediator.Options("otelmediator.WithTracing",
		mediator.WithGlobalBehavior(func() mediator.GlobalBehavior {
			return &globalTracing{tracing: newTracing(cfg), spans: map[reflect.Type]*spanInfo{}}
		}),
		WithLockEvents())
}

// WithTypeTracing opens a span around every Send of Req. Register it before
// the type's locking behavior so that the span covers the lock, and add
// [WithLockEvents] once to the mediator for lock outcomes as span events.
func WithTypeTracing[Req mediator.Message[Res], Res any](opts ...Option) mediator.Option {
	cfg := newConfig(opts)
	return mediator.WithBehavior[Req, Res](func() mediator.Behavior[Req, Res] {
		return &typeTracing[Req, Res]{tracing: newTracing(cfg), span: newSpanInfo(reflect.TypeFor[Req]())}
	})
}

// tracing is the part the global and the per-type behaviors share: where
// spans come from and whether to start any.
type tracing struct {
	tracer trace.Tracer
	// global is the global delegating provider when no SDK was installed
	// behind it at Build: as long as it still is the global provider, no
	// span would record, so none is started. Nil otherwise.
	global trace.TracerProvider
	// off: a no-op provider was passed.
	off bool
}

// globalPackage is the package of the provider OpenTelemetry serves as the
// global one until an application installs its own.
const globalPackage = "go.opentelemetry.io/otel/internal/global"

func newTracing(cfg config) *tracing {
	t := &tracing{}
	tp := cfg.tracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
		if rt := reflect.TypeOf(tp); rt.Kind() == reflect.Pointer && rt.Elem().PkgPath() == globalPackage {
			t.global = tp
		}
	}
	if _, ok := tp.(noop.TracerProvider); ok {
		t.off = true
	}
	t.tracer = tp.Tracer(ScopeName)
	return t
}

// enabled tells whether a span could record. It costs an atomic load and
// an interface comparison.
func (t *tracing) enabled() bool {
	if t.off {
		return false
	}
	// The global provider a pointer: comparing it with any value cannot panic.
	return t.global == nil || otel.GetTracerProvider() != t.global
}

// spanInfo is what every span of one message type starts with, made once.
type spanInfo struct {
	name  string
	start []trace.SpanStartOption
}

func newSpanInfo(t reflect.Type) *spanInfo {
	name := t.String()
	return &spanInfo{name: name, start: []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(MessageTypeKey.String(name)),
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

// typeTracing is the per-type behavior.
type typeTracing[Req, Res any] struct {
	*tracing
	span *spanInfo
}

// Handle runs next inside a span named after Req.
func (b *typeTracing[Req, Res]) Handle(ctx context.Context, req Req, next mediator.Next[Req, Res]) (Res, error) {
	if !b.enabled() {
		return next(ctx, req)
	}
	return run(ctx, b.tracing, b.span, req, next)
}

// globalTracing is the global behavior. spans is filled by AppliesTo while
// Build runs and only read afterwards.
type globalTracing struct {
	*tracing
	spans map[reflect.Type]*spanInfo
}

// AppliesTo prepares the span of every message type; it applies to all.
func (b *globalTracing) AppliesTo(t mediator.MessageType) (bool, error) {
	if _, ok := b.spans[t.Type]; !ok {
		b.spans[t.Type] = newSpanInfo(t.Type)
	}
	return true, nil
}

// Handle runs next inside a span named after the request's type.
func (b *globalTracing) Handle(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
	if !b.enabled() {
		return next(ctx, req)
	}
	info, ok := b.spans[reflect.TypeOf(req)]
	if !ok {
		info = newSpanInfo(reflect.TypeOf(req))
	}
	return run(ctx, b.tracing, info, req, next)
}
