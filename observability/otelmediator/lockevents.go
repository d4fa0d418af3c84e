package otelmediator

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// WithLockEvents adds every lock outcome of a request to the span current
// in its context, as an event named "turbomediator.lock." and the outcome
// ("turbomediator.lock.acquired", ".contended", ".unavailable",
// ".cancelled", ".lost", ".released"), with the lock's key, the wait or hold
// in seconds, the fencing token and the error as attributes. A lost lock
// also sets [LockLostKey] on the span and its status to Error. When a
// contended lock's holder ([locking.LockEvent.Holder]) carries a trace id,
// the waiter's span gets a link to the holder's span, with the attributes
// [LockKeyKey], [LockHolderInstanceKey] and [LockHolderMessageTypeKey]. A
// request with no recording span costs a context lookup.
//
// It also registers [TraceIdentity] with [locking.WithTraceIdentity], so
// that a provider recording who holds a lock records the trace and span ids
// of the Send that took it. Register it once per mediator: [WithTracing]
// includes it; when tracing per type, add it yourself.
func WithLockEvents() mediator.Option {
	return mediator.Options("otelmediator.WithLockEvents",
		locking.WithObserver(LockEvents{}),
		locking.WithTraceIdentity(TraceIdentity))
}

// LockEvents is the [locking.ContextObserver] behind [WithLockEvents]; it is
// a [locking.KeyRetainer] that keeps no key.
type LockEvents struct{}

// RetainsKeys returns false: what a span keeps of an event is a copy (see
// [locking.KeyRetainer]).
func (LockEvents) RetainsKeys() bool { return false }

// ObserveLock does nothing: without the request's context there is no span.
func (LockEvents) ObserveLock(locking.LockEvent) {}

// ObserveLockContext adds e to the span current in ctx, if it records.
func (LockEvents) ObserveLockContext(ctx context.Context, e locking.LockEvent) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	// The span keeps its attributes: a copy of the key, as RetainsKeys
	// promises.
	key := strings.Clone(e.Key)
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, LockKeyKey.String(key))
	switch e.Outcome {
	case locking.Released, locking.Lost:
		attrs = append(attrs, LockHoldKey.Float64(e.Hold.Seconds()))
	default:
		attrs = append(attrs, LockWaitKey.Float64(e.Wait.Seconds()))
	}
	if e.Token != 0 {
		attrs = append(attrs, LockTokenKey.Int64(int64(e.Token)))
	}
	if e.Err != nil {
		attrs = append(attrs, LockErrorKey.String(e.Err.Error()))
	}
	span.AddEvent("turbomediator.lock."+e.Outcome.String(), trace.WithAttributes(attrs...))
	if e.Outcome == locking.Contended && e.Holder != nil {
		if link, ok := holderLink(key, e.Holder); ok {
			span.AddLink(link)
		}
	}
	if e.Outcome == locking.Lost {
		span.SetAttributes(LockLostKey.Bool(true))
		span.SetStatus(codes.Error, "lock lost: "+key)
	}
}

// holderLink is the link from a waiter's span to the span of the holder
// that kept it waiting; false when the holder names no valid span.
func holderLink(key string, h *locking.Holder) (trace.Link, bool) {
	tid, err := trace.TraceIDFromHex(h.TraceID)
	if err != nil {
		return trace.Link{}, false
	}
	sid, err := trace.SpanIDFromHex(h.SpanID)
	if err != nil {
		return trace.Link{}, false
	}
	sc := trace.SpanContextConfig{TraceID: tid, SpanID: sid, Remote: true}
	attrs := []attribute.KeyValue{LockKeyKey.String(key), LockHolderInstanceKey.String(h.Instance)}
	if h.MessageType != "" {
		attrs = append(attrs, LockHolderMessageTypeKey.String(h.MessageType))
	}
	return trace.Link{SpanContext: trace.NewSpanContext(sc), Attributes: attrs}, true
}
