package memory

import (
	"context"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

var _ locking.Inspector = (*Provider)(nil)

// clockBase is the origin of clock. A grant's time is kept as a duration
// since it: one monotonic clock read, 8 bytes in the key's state.
var clockBase = time.Now()

// clock returns the monotonic time since clockBase.
func clock() time.Duration { return time.Since(clockBase) }

// Inspect tells who holds key, with which fencing token, for how long, and
// how many callers wait for it. An in-process lock has no lease: LeaseLeft
// is always 0. The holder's MessageType, TraceID and SpanID are those of the
// [locking.Acquirer] of its TryAcquire (the locking behavior supplies one);
// Instance is the provider's ([WithInstance]). Inspect changes no lock and
// fails only when ctx has ended.
//
// Grant times are kept from the first call of Inspect on: reading the clock
// costs about a third of an uncontended grant, which an application that
// never asks should not pay. A key granted before that first call reports a
// zero Holder.Since and HeldFor. To have every grant timed, call Inspect once
// at start-up (any key will do), as a debug handler listing locks may when
// it is built.
func (p *Provider) Inspect(ctx context.Context, key string) (locking.LockInfo, error) {
	if ctx.Err() != nil {
		return locking.LockInfo{}, contextError(ctx, key)
	}
	h, sh := p.hash(key)
	if !p.timed.Load() {
		p.timed.Store(true)
	}
	now := clock()
	info := locking.LockInfo{Key: key}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.keys.find(h, key)
	if st == nil {
		return info, nil
	}
	info.Held = true
	info.Holder = p.lockedHolder(st)
	info.Token = st.token
	if st.since != 0 {
		info.HeldFor = max(now-st.since, 0)
	}
	info.Waiters = st.waiting
	return info, nil
}

// lockedHolder returns st's holder. The caller holds the shard's mutex.
func (p *Provider) lockedHolder(st *keyState) locking.Holder {
	h := locking.Holder{
		Instance:    p.instance,
		MessageType: st.who.MessageType,
		TraceID:     st.who.TraceID,
		SpanID:      st.who.SpanID,
	}
	if st.since != 0 {
		// Round(0) drops the monotonic reading: a wall time, as one read
		// from a server would be.
		h.Since = clockBase.Add(st.since).Round(0)
	}
	return h
}

// lockedHeldError is what a caller that gave up on key (st's) after timeout
// gets: the *locking.Error of the behavior's contract, and the
// *locking.HeldError naming the holder. It names the caller's own key
// string, not st.key, which may be made over the holder's lock scope: an
// error a caller keeps must not keep another request's scope alive. The
// caller holds the shard's mutex.
func (p *Provider) lockedHeldError(st *keyState, key string, timeout time.Duration) error {
	return &contentionError{
		err:  locking.Error{Key: key, Timeout: timeout},
		held: locking.HeldError{Key: key, Holder: p.lockedHolder(st)},
	}
}

// contentionError is both a *locking.Error (key and timeout) and a
// *locking.HeldError (who held the key), for errors.As; errors.Is matches
// locking.ErrNotAcquired.
type contentionError struct {
	err  locking.Error
	held locking.HeldError
}

// Error says which key was not had within which timeout, and who held it.
func (e *contentionError) Error() string {
	msg := e.err.Error() + ": held by " + e.held.Holder.Instance
	if mt := e.held.Holder.MessageType; mt != "" {
		msg += " for " + mt
	}
	return msg
}

// Unwrap returns the *locking.Error and the *locking.HeldError.
func (e *contentionError) Unwrap() []error { return []error{&e.err, &e.held} }
