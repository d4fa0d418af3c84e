package locking

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"go.uber.org/dig"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// Outcome is what happened to one lock key.
type Outcome uint8

const (
	// Acquired: the lock was granted; LockEvent.Wait is how long it took.
	Acquired Outcome = iota + 1
	// Contended: the lock stayed taken for the whole timeout.
	Contended
	// Unavailable: the provider failed; LockEvent.Err says why.
	Unavailable
	// Cancelled: the caller's context ended while waiting.
	Cancelled
	// Lost: the provider could no longer vouch for a held lock; the
	// handler's context was cancelled. LockEvent.Hold is how long it was held.
	Lost
	// Released: the lock was given back; LockEvent.Hold is how long it was
	// held, LockEvent.Err a release failure.
	Released
)

// String returns the outcome's name in lower case ("acquired").
func (o Outcome) String() string {
	switch o {
	case Acquired:
		return "acquired"
	case Contended:
		return "contended"
	case Unavailable:
		return "unavailable"
	case Cancelled:
		return "cancelled"
	case Lost:
		return "lost"
	case Released:
		return "released"
	}
	return "unknown"
}

// LockEvent is one thing that happened to one lock key, for an [Observer].
type LockEvent struct {
	// Prefix is the key prefix of the message type, with the global prefix
	// ("myapp:WithdrawCommand"): few distinct values, fit for a metric label.
	Prefix string
	// Key is the full lock key ("myapp:WithdrawCommand:42").
	Key string
	// Outcome is what happened.
	Outcome Outcome
	// Wait is how long the caller waited (Acquired, Contended, Unavailable,
	// Cancelled). A grant made at once — the key was free and nobody queued
	// for it, as the in-memory provider tells — waited for nobody and
	// reports 0: the provider's own work (a mutex, a map lookup) is not
	// timed, which spares a clock read. Any other Wait runs from the
	// request to the provider's answer.
	Wait time.Duration
	// Hold is how long the lock was held (Released, Lost): from the grant
	// (after a grant made at once, from the request) to the end of the
	// release.
	Hold time.Duration
	// Token is the handle's fencing token (Acquired, Released, Lost).
	Token uint64
	// Err is the error of Unavailable, Cancelled, or a failed release.
	Err error
	// Holder is who held the key when the caller gave up (Contended), when
	// the provider said so with a [HeldError]; nil otherwise. It is a copy
	// of the error's: an observer may keep it.
	Holder *Holder
	// Acquirer is who asked for the lock in this process: MessageType on
	// every event; TraceID and SpanID on Acquired and Contended, when a
	// tracing behavior registered [WithTraceIdentity] and the Send carries
	// a span.
	Acquirer Acquirer
}

// Observer receives a LockEvent for every lock outcome, to feed a metrics
// system. ObserveLock is called on the request's goroutine (a loss on a
// watcher goroutine), so it must be quick and safe for concurrent use. An
// observer that keeps no LockEvent.Key after the call says so with
// [KeyRetainer], which spares an allocation per Send.
type Observer interface {
	ObserveLock(e LockEvent)
}

// ContextObserver is an [Observer] that also wants the request's context,
// for instance to add the event to the request's trace span. The locking
// behavior calls ObserveLockContext, instead of ObserveLock, on an observer
// that implements it. A loss is reported with the request's context too,
// from the watcher goroutine.
type ContextObserver interface {
	Observer
	ObserveLockContext(ctx context.Context, e LockEvent)
}

// ObserverFunc adapts a function to an [Observer].
type ObserverFunc func(e LockEvent)

// ObserveLock calls f(e).
func (f ObserverFunc) ObserveLock(e LockEvent) { f(e) }

const observerGroup = "locking.observers"

// WithObserver adds o to the observers of the locking behavior; a mediator
// may have several. With none, no event is built and no clock is read.
func WithObserver(o Observer) mediator.Option {
	return mediator.Options("locking.WithObserver",
		mediator.Provide(func() Observer { return o }, dig.Group(observerGroup)))
}

// loggerRegistration is what WithLogger puts in the container.
type loggerRegistration struct{ logger *slog.Logger }

// WithLogger sends the locking behavior's records to logger: acquired and
// released at debug (with wait and hold times), contended and lost at warn,
// provider failures at error. Without WithLogger the behavior uses a
// *slog.Logger the container provides, if any; with neither it logs nothing
// and pays nothing.
func WithLogger(logger *slog.Logger) mediator.Option {
	reg := &loggerRegistration{logger: logger}
	return mediator.Options("locking.WithLogger",
		mediator.Provide(func() *loggerRegistration { return reg }))
}

// KeyRetainer is an optional interface of an [Observer]: it tells whether
// the observer keeps the Key of a [LockEvent] (or of a [Wait], for a
// [WaitObserver]) after the call that passed it returns.
//
// With the in-memory provider the locking behavior builds a message's key
// inside the per-Send state it allocates anyway. A key kept beyond the call
// would keep that state, and the request's context, alive with it, so when
// some observer may keep keys, every such key is first copied into a string
// of its own: one more allocation per locked Send. An observer that does not
// implement KeyRetainer is taken to keep keys. One that reads the key only
// during the call, or copies what it keeps (strings.Clone: a span attribute,
// a map entry), returns false, and a Send observed only by such observers
// allocates no more than one observed by none.
//
// RetainsKeys is asked once per message type, at Build. A false answer is a
// promise about memory, not about safety: a key kept anyway stays valid; it
// only keeps those few hundred bytes alive as long as it is kept.
type KeyRetainer interface {
	// RetainsKeys reports whether the observer may keep a key it was given
	// after the call returns.
	RetainsKeys() bool
}

// retainsKeys tells whether o may keep the keys it is given (see
// [KeyRetainer]).
func retainsKeys(o Observer) bool {
	kr, ok := o.(KeyRetainer)
	return !ok || kr.RetainsKeys()
}

// reporter sends lock outcomes to the logger and the observers. timed is
// false when there are neither, and then no clock is read either.
type reporter struct {
	log *slog.Logger
	// Every observer, as one: ctxObs when it wants the context (several
	// observers are one observerList), obs when it does not. At most one of
	// the two is set, at Build, so that an event costs one interface call
	// and no type assertion.
	obs    Observer
	ctxObs ContextObserver
	timed  bool
	// keepsKeys is set when some observer may keep the keys it is given;
	// keys built inside a Send's scope are then copied (see scope.keyIn).
	keepsKeys bool
}

func newReporter(log *slog.Logger, observers []Observer) reporter {
	r := reporter{log: log, timed: log != nil || len(observers) > 0}
	for _, o := range observers {
		r.keepsKeys = r.keepsKeys || retainsKeys(o)
	}
	switch len(observers) {
	case 0:
	case 1:
		if co, ok := observers[0].(ContextObserver); ok {
			r.ctxObs = co
		} else {
			r.obs = observers[0]
		}
	default:
		list := make(observerList, len(observers))
		for i, o := range observers {
			list[i].obs = o
			list[i].ctxObs, _ = o.(ContextObserver)
		}
		r.ctxObs = list
	}
	return r
}

// observerList is several observers, called in registration order; each
// one's ContextObserver form is found at Build.
type observerList []struct {
	obs    Observer
	ctxObs ContextObserver // obs as a ContextObserver, or nil
}

func (os observerList) ObserveLock(e LockEvent) { os.ObserveLockContext(context.Background(), e) }

func (os observerList) ObserveLockContext(ctx context.Context, e LockEvent) {
	for _, o := range os {
		if o.ctxObs != nil {
			o.ctxObs.ObserveLockContext(ctx, e)
		} else {
			o.obs.ObserveLock(e)
		}
	}
}

// emit completes e and gives it to the observers and the logger.
func (l *locker) emit(ctx context.Context, level slog.Level, msg string, e *LockEvent) {
	e.Prefix = l.prefix
	if l.ctxObs != nil || l.obs != nil {
		e.Acquirer.MessageType = l.msgType
		if l.trace != nil && (e.Outcome == Acquired || e.Outcome == Contended) {
			e.Acquirer.TraceID, e.Acquirer.SpanID = l.trace(ctx)
		}
		if l.ctxObs != nil {
			l.ctxObs.ObserveLockContext(ctx, *e)
		} else {
			l.obs.ObserveLock(*e)
		}
	}
	if l.log != nil {
		l.logEvent(ctx, level, msg, e)
	}
}

// logEvent writes e as a record of the logger, if its level is enabled.
func (l *locker) logEvent(ctx context.Context, level slog.Level, msg string, e *LockEvent) {
	if !l.log.Enabled(ctx, level) {
		return
	}
	key := e.Key
	if !l.keepsKeys {
		// The key may be made over the Send's scope (see scope.keyIn), and
		// a handler may keep the record's attributes.
		key = strings.Clone(key)
	}
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs, slog.String("key", key))
	switch e.Outcome {
	case Acquired, Contended, Unavailable, Cancelled:
		attrs = append(attrs, slog.Duration("wait", e.Wait))
	case Released, Lost:
		attrs = append(attrs, slog.Duration("hold", e.Hold))
	}
	if e.Token != 0 {
		attrs = append(attrs, slog.Uint64("token", e.Token))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.Any("error", e.Err))
	}
	l.log.LogAttrs(ctx, level, msg, attrs...)
}

func (l *locker) acquired(ctx context.Context, h Handle, wait time.Duration) {
	l.emit(ctx, slog.LevelDebug, "lock acquired", &LockEvent{Key: h.Key(), Outcome: Acquired, Wait: wait, Token: h.Token()})
}

// contended reports that key stayed taken; err is the provider's, whose
// *HeldError, if any, names the holder.
func (l *locker) contended(ctx context.Context, key string, wait time.Duration, throw bool, err error) {
	msg := "lock not acquired"
	if !throw {
		msg = "lock not acquired, handler skipped"
	}
	e := LockEvent{Key: key, Outcome: Contended, Wait: wait}
	if he, ok := errors.AsType[*HeldError](err); ok && he != nil {
		holder := he.Holder
		e.Holder = &holder
	}
	l.emit(ctx, slog.LevelWarn, msg, &e)
}

func (l *locker) cancelled(ctx context.Context, key string, wait time.Duration, err error) {
	l.emit(ctx, slog.LevelDebug, "lock wait cancelled", &LockEvent{Key: key, Outcome: Cancelled, Wait: wait, Err: err})
}

func (l *locker) unavailable(ctx context.Context, key string, wait time.Duration, err error) {
	l.emit(ctx, slog.LevelError, "lock provider unavailable", &LockEvent{Key: key, Outcome: Unavailable, Wait: wait, Err: err})
}

func (l *locker) released(ctx context.Context, h Handle, hold time.Duration, err error) {
	level, msg := slog.LevelDebug, "lock released"
	if err != nil {
		level, msg = slog.LevelWarn, "lock release failed"
	}
	l.emit(ctx, level, msg, &LockEvent{Key: h.Key(), Outcome: Released, Hold: hold, Token: h.Token(), Err: err})
}

func (l *locker) lost(ctx context.Context, h Handle, acquired time.Duration) {
	if !l.timed {
		return
	}
	hold := clock() - acquired
	l.emit(ctx, slog.LevelWarn, "lock lost", &LockEvent{Key: h.Key(), Outcome: Lost, Hold: hold, Token: h.Token(), Err: ErrLockLost})
}
