package locking

import (
	"context"
	"time"

	"github.com/turbomediator/turbomediator-go/internal/grant"
)

// WaitObserver is an [Observer] that also wants to know which callers are
// waiting for a key right now, as a debug page listing this process's
// waiters does. The locking behavior checks its observers for it once, at
// Build: only when one implements it does a Send report the start and the
// end of its wait, so the others pay nothing.
//
// WaitStarted is called on the request's goroutine just before the provider
// is asked for a key, WaitEnded just after it answered, with the same *Wait
// (an observer may use the pointer as a map key until WaitEnded); the
// outcome follows as a [LockEvent]. A key borrowed from an enclosing Send
// (re-entry) is not waited for on the provider and is not reported. Both
// must be quick and safe for concurrent use.
type WaitObserver interface {
	Observer
	WaitStarted(ctx context.Context, w *Wait)
	WaitEnded(ctx context.Context, w *Wait)
}

// Wait is one caller waiting for one key.
type Wait struct {
	// Prefix and Key are the LockEvent's.
	Prefix string
	Key    string
	// Timeout is how long the caller waits at most (0: one try).
	Timeout time.Duration
	// Acquirer is who waits: the message type, and the Send's trace when a
	// tracing behavior registered [WithTraceIdentity].
	Acquirer Acquirer
}

// waitReporter stands between a locker and its provider when some observer
// is a WaitObserver, and tells them when each wait starts and ends.
type waitReporter struct {
	provider Provider
	grants   grant.Acquirer // the provider's, or nil
	obs      []WaitObserver
	prefix   string
	msgType  string
}

// reportWaits puts a waitReporter between l and its provider when some of
// observers is a WaitObserver; otherwise l is left as it is.
func (l *locker) reportWaits(observers []Observer) {
	var ws []WaitObserver
	for _, o := range observers {
		if w, ok := o.(WaitObserver); ok {
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 {
		return
	}
	r := &waitReporter{provider: l.provider, grants: l.grants, obs: ws, prefix: l.prefix, msgType: l.msgType}
	l.provider = r
	if l.grants != nil {
		l.grants = r
	}
}

// TryAcquire asks the provider, between the start and the end of the wait.
// ctx carries the Send's Acquirer.
func (r *waitReporter) TryAcquire(ctx context.Context, key string, timeout time.Duration) (Handle, error) {
	a, ok := AcquirerFromContext(ctx)
	if !ok {
		a = Acquirer{MessageType: r.msgType}
	}
	w := r.start(ctx, key, timeout, a)
	h, err := r.provider.TryAcquire(ctx, key, timeout)
	r.end(ctx, w, h)
	return h, err
}

// TryAcquireGrant is TryAcquire for a provider that fills the caller's grant.
func (r *waitReporter) TryAcquireGrant(ctx context.Context, key string, timeout time.Duration, g *grant.Grant, id grant.Identity) error {
	w := r.start(ctx, key, timeout, Acquirer{MessageType: id.MessageType, TraceID: id.TraceID, SpanID: id.SpanID})
	err := r.grants.TryAcquireGrant(ctx, key, timeout, g, id)
	var h Handle
	if err == nil {
		h = g
	}
	r.end(ctx, w, h)
	return err
}

// start reports the start of a wait. If an observer panics, those told
// before it hear the end of the wait before the panic goes on up, so that
// none counts a waiter forever.
func (r *waitReporter) start(ctx context.Context, key string, timeout time.Duration, a Acquirer) *Wait {
	w := &Wait{Prefix: r.prefix, Key: key, Timeout: timeout, Acquirer: a}
	told := 0
	defer func() {
		if told < len(r.obs) {
			for _, o := range r.obs[:told] {
				o.WaitEnded(ctx, w)
			}
		}
	}()
	for _, o := range r.obs {
		o.WaitStarted(ctx, w)
		told++
	}
	return w
}

// end reports the end of w. If an observer panics, h (the lock just
// granted, or nil) is released before the panic goes on up: nobody else
// would.
func (r *waitReporter) end(ctx context.Context, w *Wait, h Handle) {
	defer func() {
		if p := recover(); p != nil {
			if h != nil {
				rel := releaseContext{values: ctx}
				_ = h.Release(&rel)
				rel.stop()
			}
			panic(p)
		}
	}()
	for _, o := range r.obs {
		o.WaitEnded(ctx, w)
	}
}
