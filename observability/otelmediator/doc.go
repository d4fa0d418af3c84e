// Package otelmediator makes a mediator and its distributed locks observable
// through OpenTelemetry: a span per message, lock outcomes as span events,
// and lock metrics.
//
// It lives in a module of its own, so an application that does not import it
// gets no OpenTelemetry module in its graph; the package itself needs only
// the OpenTelemetry API. The SDK and the exporters are the application's
// choice.
//
// # Traces
//
// [WithTracing] opens a span around every Send and every Publish (global
// behaviors); [WithTypeTracing] does it for one request type and
// [WithNotificationTracing] for one notification type, without the boxing a
// global behavior costs. The span is named after the message type
// ("bank.WithdrawCommand"), of kind internal, with the attributes
// [MessageTypeKey], [OperationKey] ("send" or "publish") and [OutcomeKey]; a
// failure is recorded on the span and sets its status to Error.
//
// [WithLockEvents] (included in WithTracing) adds every lock outcome of the
// request as an event on its current span, marks the span when a held lock
// is lost, links a waiter's span to the span of the holder that kept it
// waiting when the provider names one with a trace, and registers
// [TraceIdentity] with [locking.WithTraceIdentity], so that providers
// recording lock holders record the holder's trace and span ids.
//
// Every form takes the tracer provider from [WithTracerProvider], by default
// the global one (otel.GetTracerProvider). Whether spans can record is
// decided at Build: with a no-op provider, or the global one while no SDK
// is installed behind it, the global forms leave every message type
// untouched and the per-type forms call the next step at once, so tracing
// costs nothing and allocates nothing. Install the application's
// TracerProvider (otel.SetTracerProvider) before building the mediator.
//
// # Metrics
//
// [NewLockMetrics] is a [locking.Observer] that records lock waits, holds and
// outcomes through a MeterProvider ([WithMeterProvider], by default the
// global one); [WithLockMetrics] registers one. Its instruments are listed in
// docs/locking.md. Their attributes are the lock prefix and the outcome,
// never the key, whose values are unbounded.
//
// The package lockproducer, beside this one, offers the same instruments
// aggregated inside the observer and read by an SDK reader as a
// metric.Producer: a few atomic additions per lock event instead of two SDK
// histogram recordings, for applications already on the SDK.
package otelmediator

import (
	"go.opentelemetry.io/otel/attribute"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// ScopeName is the instrumentation scope of the tracer and the meter this
// package asks its providers for.
const ScopeName = "github.com/turbomediator/turbomediator-go/observability/otelmediator"

// Attribute keys of the spans, span events and metrics.
const (
	// MessageTypeKey is the Go type of the message ("bank.WithdrawCommand").
	MessageTypeKey = attribute.Key("turbomediator.message.type")
	// OperationKey is what the mediator did with the message: "send" or
	// "publish".
	OperationKey = attribute.Key("turbomediator.operation")
	// OutcomeKey is how a Send or Publish ended (span: "ok", "error",
	// "lock_not_acquired", "lock_unavailable", "lock_lost", "canceled",
	// "deadline_exceeded", "panic") or what happened to a lock (metrics: the
	// [locking.Outcome] names).
	OutcomeKey = attribute.Key("turbomediator.outcome")
	// LockPrefixKey is the key prefix of a lock ("myapp:WithdrawCommand").
	LockPrefixKey = attribute.Key("turbomediator.lock.prefix")
	// LockKeyKey is the full key of a lock; on span events only.
	LockKeyKey = attribute.Key("turbomediator.lock.key")
	// LockWaitKey is how long a caller waited for a lock, in seconds.
	LockWaitKey = attribute.Key("turbomediator.lock.wait")
	// LockHoldKey is how long a lock was held, in seconds.
	LockHoldKey = attribute.Key("turbomediator.lock.hold")
	// LockTokenKey is a lock's fencing token.
	LockTokenKey = attribute.Key("turbomediator.lock.token")
	// LockErrorKey is the error of a provider failure, a cancelled wait or
	// a failed release.
	LockErrorKey = attribute.Key("turbomediator.lock.error")
	// LockLostKey is set to true on a span whose request lost a lock.
	LockLostKey = attribute.Key("turbomediator.lock.lost")
	// LockHolderInstanceKey names the process that held a contended lock
	// ([locking.Holder.Instance]); on the link to the holder's span.
	LockHolderInstanceKey = attribute.Key("turbomediator.lock.holder.instance")
	// LockHolderMessageTypeKey is the message type the holder took the
	// lock for; on the link to the holder's span.
	LockHolderMessageTypeKey = attribute.Key("turbomediator.lock.holder.message_type")
)

var (
	_ locking.ContextObserver = (*LockMetrics)(nil)
	_ locking.KeyRetainer     = (*LockMetrics)(nil)
	_ locking.KeyRetainer     = LockEvents{}
	_ locking.ContextObserver = LockEvents{}
)
