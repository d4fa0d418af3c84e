package locking

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/turbomediator/turbomediator-go/internal/grant"
)

// locker takes and gives back the locks of one message type. It is built at
// Build with the type's resolved settings and shared by all its Sends.
type locker struct {
	provider Provider
	// grants is provider when it can fill the scope's own grant instead of
	// allocating a handle (the in-memory provider); nil otherwise.
	grants grant.Acquirer
	// ident is the provider as a comparable value, or nil when its type is
	// not comparable. Re-entry borrows only a lock taken from the same
	// provider: the same key in another mediator's store is another lock.
	ident   any
	prefix  string // "[GlobalKeyPrefix:]Prefix", for events
	timeout time.Duration
	throw   bool
	// msgType is the message's Go type, the Acquirer's MessageType; trace,
	// when an application registered WithTraceIdentity, gives its TraceID
	// and SpanID. acquirer is Acquirer{MessageType: msgType} boxed once at
	// Build, what providers find in their context when trace is nil; nil
	// for RunLocked, which passes the caller's context on as it is.
	msgType  string
	trace    func(ctx context.Context) (traceID, spanID string)
	acquirer any
	// id is Acquirer{MessageType: msgType} in the grant fast path's form.
	id grant.Identity

	reporter
}

// errSkip tells the behavior that the lock was not had, throw is false, and
// the handler must be skipped with a nil error.
var errSkip = errors.New("locking: skipped")

// newScope allocates the scope of one Send. When observers or a logger are
// registered the scope will record its grant time in its extra part, so the
// two come in one allocation.
func (l *locker) newScope(ctx context.Context) *scope {
	if l.timed {
		x := &observedScope{scope: scope{Context: ctx, parent: scopeOf(ctx), l: l}}
		x.scope.extra.Store(&x.extra)
		return &x.scope
	}
	return &scope{Context: ctx, parent: scopeOf(ctx), l: l}
}

// observedScope is a scope with its extra part, allocated together.
type observedScope struct {
	scope scope
	extra scopeExtra
}

// enter takes key, or borrows it from an enclosing scope of ctx that holds
// it, and returns the scope the handler runs in.
func (l *locker) enter(ctx context.Context, key string) (*scope, error) {
	return l.enterScope(l.newScope(ctx), key)
}

// enterScope is enter with the scope made by newScope, in which key may
// have been built.
func (l *locker) enterScope(s *scope, key string) (*scope, error) {
	ctx := s.Context
	var start time.Duration
	if l.timed {
		start = clock()
	}
	if s.parent != nil {
		h, g, err := l.borrow(ctx, s.parent, key, l.timeout)
		if err != nil {
			return nil, l.failed(ctx, key, start, nil, err)
		}
		if h != nil {
			s.one[0] = h
			s.took(g)
			return s, nil
		}
	}
	var h Handle
	if l.grants != nil {
		id := l.id
		if l.trace != nil {
			id.TraceID, id.SpanID = l.trace(ctx)
		}
		if err := l.grants.TryAcquireGrant(ctx, key, l.timeout, &s.grant, id); err != nil {
			return nil, l.failed(ctx, key, start, nil, err)
		}
		h = &s.grant
	} else {
		var err error
		h, err = l.provider.TryAcquire(s.acquireContext(), key, l.timeout)
		if err != nil || h == nil {
			return nil, l.failed(ctx, key, start, h, err)
		}
	}
	s.one[0], s.ownOne[0] = h, true
	if l.timed {
		// A grant made at once, behind nobody, waited for nothing: it
		// reports a wait of 0 and its hold runs from start, without a
		// clock read of its own (see LockEvent.Wait).
		acquired := start
		if l.grants == nil || !s.grant.AtOnce() {
			acquired = clock()
		}
		s.ext().acquired = acquired
		s.reportAcquired(h, acquired-start)
	}
	if l.grants == nil {
		// A grant cannot be lost (its Lost is nil): nothing to watch.
		s.watchLost()
	}
	return s, nil
}

// enterMany takes every key (sorted, distinct) in order, borrowing those an
// enclosing scope holds, within one overall timeout. On a failure it gives
// back what it took, last first.
func (l *locker) enterMany(ctx context.Context, keys []string) (*scope, error) {
	s := l.newScope(ctx)
	parent := s.parent
	s.setMany(len(keys))
	var start time.Duration
	if l.timed || (l.timeout > 0 && len(keys) > 1) {
		start = clock()
	}
	for i, key := range keys {
		wait := l.timeout
		if i > 0 && wait > 0 {
			wait = max(start+l.timeout-clock(), 0)
		}
		h, g, err := l.borrow(ctx, parent, key, wait)
		if err == nil && h != nil {
			s.handles()[i] = h
			s.took(g)
			continue
		}
		if err == nil {
			h, err = l.provider.TryAcquire(s.acquireContext(), key, wait)
		}
		if err != nil || h == nil {
			// Give everything back before anyone is told: an observer
			// that panics must not keep a key held.
			if h != nil {
				rel := releaseContext{values: ctx}
				_ = h.Release(&rel)
				rel.stop()
				h = nil
			}
			s.giveBack(true)
			return nil, l.failed(ctx, key, start, nil, err)
		}
		s.handles()[i], s.owned()[i] = h, true
		if l.timed {
			acquired := clock() // the last grant's is the hold's start
			s.ext().acquired = acquired
			s.reportAcquired(h, acquired-start)
		}
	}
	if l.timed && s.acquiredAt() == 0 {
		s.ext().acquired = clock() // every key borrowed
	}
	s.watchLost()
	return s, nil
}

// acquirerOf is the Acquirer a provider finds in the context of a Send with
// ctx: boxed once at Build unless a trace identity varies per Send.
func (l *locker) acquirerOf(ctx context.Context) any {
	if l.trace == nil {
		return l.acquirer
	}
	a := Acquirer{MessageType: l.msgType}
	a.TraceID, a.SpanID = l.trace(ctx)
	return a
}

// borrow looks for key in the enclosing scopes of parent that took it from
// this locker's provider. If one holds it, borrow takes the gate of that key
// in the innermost such scope within wait, so that borrowers exclude each
// other, and returns the handle and the gate. It returns no handle when no
// enclosing scope holds key, and an error when the gate stayed taken or ctx
// ended.
func (l *locker) borrow(ctx context.Context, parent *scope, key string, wait time.Duration) (Handle, chan struct{}, error) {
	if parent == nil || l.ident == nil {
		return nil, nil, nil
	}
	for {
		lender, i := parent.holder(l.ident, key)
		if lender == nil {
			return nil, nil, nil
		}
		g := lender.gate(i)
		if err := waitGate(ctx, g, key, wait, l.timeout); err != nil {
			return nil, nil, err
		}
		if !lender.over.Load() {
			return lender.handles()[i], g, nil
		}
		// The lender's handler returned while we waited: its lock is
		// gone. Look again (an outer scope, or the provider).
		<-g
	}
}

// failed turns a failed TryAcquire into what Send returns, and reports it.
func (l *locker) failed(ctx context.Context, key string, start time.Duration, h Handle, err error) error {
	// The key may be made over the scope's buffer (see scope.keyIn): an
	// error that outlives the Send gets a copy, not the scope.
	key = strings.Clone(key)
	if h != nil {
		// A provider that returns both a handle and an error is not to be
		// trusted with the handle either.
		rel := releaseContext{values: ctx}
		_ = h.Release(&rel)
		rel.stop()
	}
	var wait time.Duration
	if l.timed {
		wait = clock() - start
	}
	switch {
	case err != nil && errors.Is(err, ErrNotAcquired):
		if l.timed {
			l.contended(ctx, key, wait, l.throw, err)
		}
		if !l.throw {
			return errSkip
		}
		return &Error{Key: key, Timeout: l.timeout}
	case ctx.Err() != nil:
		out := fmt.Errorf("locking: waiting for %q: %w", key, ctx.Err())
		if cause := context.Cause(ctx); cause != ctx.Err() {
			out = fmt.Errorf("locking: waiting for %q: %w: %w", key, ctx.Err(), cause)
		}
		if l.timed {
			l.cancelled(ctx, key, wait, out)
		}
		return out
	default:
		if err == nil {
			err = errors.New("provider returned neither a handle nor an error")
		}
		if !errors.Is(err, ErrUnavailable) {
			err = &UnavailableError{Key: key, Err: err}
		}
		if l.timed {
			l.unavailable(ctx, key, wait, err)
		}
		return err
	}
}

// lostError is what Send reports when key was lost while the handler ran;
// it also wraps the handler's own error, if any.
func lostError(key string, handlerErr error) error {
	if handlerErr != nil {
		return fmt.Errorf("locking: %q lost while the handler ran: %w; handler: %w", key, ErrLockLost, handlerErr)
	}
	return fmt.Errorf("locking: %q lost while the handler ran: %w", key, ErrLockLost)
}
