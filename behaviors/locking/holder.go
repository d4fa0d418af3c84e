package locking

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// Acquirer describes who asks for a lock. The locking behavior attaches one
// to the context it passes to [Provider.TryAcquire]; a provider that keeps
// holder identity (see [Inspector]) reads it with [AcquirerFromContext] and
// stores it beside the lock.
type Acquirer struct {
	// MessageType is the Go type of the message the lock is taken for
	// ("bank.WithdrawCommand").
	MessageType string
	// TraceID and SpanID identify the span of the Send that asked, in the
	// W3C hex form, when a tracing behavior put one in the context; empty
	// otherwise.
	TraceID string
	SpanID  string
}

// acquirerKey is the context key of an Acquirer.
type acquirerKey struct{}

// ContextWithAcquirer returns a copy of ctx that carries a. The locking
// behavior does this itself; provider tests and callers of a provider
// outside the mediator use it to label their acquisitions.
func ContextWithAcquirer(ctx context.Context, a Acquirer) context.Context {
	return context.WithValue(ctx, acquirerKey{}, a)
}

// AcquirerFromContext returns the Acquirer attached to ctx, if any.
func AcquirerFromContext(ctx context.Context) (Acquirer, bool) {
	a, ok := ctx.Value(acquirerKey{}).(Acquirer)
	return a, ok
}

// Holder says who holds a lock, as the provider recorded it when the lock
// was granted.
type Holder struct {
	// Instance names the process: the provider's configured name, or
	// [DefaultInstance] ("host:pid").
	Instance string `json:"instance"`
	// MessageType, TraceID and SpanID are the [Acquirer]'s.
	MessageType string `json:"message_type,omitempty"`
	TraceID     string `json:"trace_id,omitempty"`
	SpanID      string `json:"span_id,omitempty"`
	// Since is when the lock was granted, by the provider's clock.
	Since time.Time `json:"since"`
}

// LockInfo is what a provider knows about one key when asked.
type LockInfo struct {
	// Key is the lock key, without any storage prefix of the provider.
	Key string `json:"key"`
	// Held reports whether anyone holds the key; the fields below but
	// Waiters are zero when not.
	Held bool `json:"held"`
	// Holder is who holds it. A holder that recorded no identity (taken by
	// an older version, say) leaves it zero.
	Holder Holder `json:"holder"`
	// Token is the holder's fencing token.
	Token uint64 `json:"token,omitempty"`
	// HeldFor is how long the key has been held.
	HeldFor time.Duration `json:"held_for_ns,omitempty"`
	// LeaseLeft is how long the backend keeps the lock if nobody extends
	// it; zero for a provider without leases (memory).
	LeaseLeft time.Duration `json:"lease_left_ns,omitempty"`
	// Waiters is how many callers in this process wait for the key; the
	// provider cannot see other processes' waiters.
	Waiters int `json:"waiters"`
}

// Inspector is an optional interface of a [Provider] that can say who holds
// a key. Inspect reads the backend (so it may fail with an error matching
// [ErrUnavailable]) and never changes a lock.
type Inspector interface {
	Inspect(ctx context.Context, key string) (LockInfo, error)
}

// HeldError is an error a provider may return from TryAcquire, instead of a
// bare [ErrNotAcquired], when it knows who held the key at the end of the
// wait. It matches ErrNotAcquired. The behavior still reports contention to
// the caller as *[Error]; observers find the holder in [LockEvent.Holder].
type HeldError struct {
	Key    string
	Holder Holder
}

// Error says which key was held, and by whom.
func (e *HeldError) Error() string {
	return fmt.Sprintf("locking: %q held by %s", e.Key, e.Holder.Instance)
}

// Unwrap returns [ErrNotAcquired].
func (e *HeldError) Unwrap() error { return ErrNotAcquired }

// DefaultInstance returns "host:pid" for this process, the instance name a
// provider records when it was given none.
func DefaultInstance() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

// traceIdentity is what WithTraceIdentity puts in the container.
type traceIdentity struct {
	f func(ctx context.Context) (traceID, spanID string)
}

// WithTraceIdentity registers f, which the locking behavior calls with the
// Send's context to fill [Acquirer.TraceID] and [Acquirer.SpanID], so that a
// provider recording holders can name the trace that holds a lock. A tracing
// behavior registers one (otelmediator.WithTracing does); f must be quick,
// and return empty strings when ctx carries no span.
func WithTraceIdentity(f func(ctx context.Context) (traceID, spanID string)) mediator.Option {
	reg := &traceIdentity{f: f}
	return mediator.Options("locking.WithTraceIdentity",
		mediator.Provide(func() *traceIdentity { return reg }))
}
