// Package grant is the handle of an in-process lock grant, shared by the
// in-memory provider, which fills it, and the locking behavior, which can
// carry it inside its per-Send scope so that a locked Send allocates once.
//
// It is internal: the way the two meet is not part of either package's
// public contract, and another provider cannot implement [Acquirer].
package grant

import (
	"context"
	"sync/atomic"
	"time"
)

// Releaser gives a grant's key back. It is called once per grant, by the
// grant's first Release.
type Releaser interface {
	ReleaseGrant(g *Grant)
}

// Grant is one grant of a key: a locking.Handle. Every grant gets a Grant of
// its own (a new one, or the zero Grant inside a fresh scope), so a stale
// Grant, released already, can never free a later holder's lock.
type Grant struct {
	key      string
	token    uint64
	owner    Releaser
	released atomic.Bool

	// atOnce is set by SetAtOnce: the key was granted without queueing.
	atOnce bool
}

// Set fills a zero Grant when its key is granted.
func (g *Grant) Set(key string, token uint64, owner Releaser) {
	g.key, g.token, g.owner = key, token, owner
}

// SetAtOnce marks g, filled by Set, as granted at once: the caller found the
// key free and queued behind nobody. The locking behavior then reports a wait
// of zero without reading the clock (a clock read costs as much as a third
// of such a grant).
func (g *Grant) SetAtOnce() { g.atOnce = true }

// AtOnce tells whether g was granted at once (see SetAtOnce).
func (g *Grant) AtOnce() bool { return g.atOnce }

// Key returns the key the lock was taken on.
func (g *Grant) Key() string { return g.key }

// Token returns the fencing token of this grant.
func (g *Grant) Token() uint64 { return g.token }

// Lost returns nil: an in-process lock cannot be lost, so there is nothing
// to watch.
func (g *Grant) Lost() <-chan struct{} { return nil }

// Release gives the key back. Only the first call does that; later calls,
// from any goroutine, return nil and do nothing. It never blocks, so ctx is
// not consulted.
func (g *Grant) Release(context.Context) error {
	if g.released.CompareAndSwap(false, true) {
		g.owner.ReleaseGrant(g)
	}
	return nil
}

// Identity is who asks for a grant: the fields of a locking.Acquirer, which
// this package cannot name (the locking package imports it). It is passed
// by value, so that handing it over through an interface allocates nothing.
type Identity struct {
	MessageType string
	TraceID     string
	SpanID      string
}

// Acquirer is a provider that can fill a Grant its caller owns, instead of
// allocating a handle: TryAcquire with the Grant as the handle, which is
// granted exactly when the error is nil. id is recorded as the holder, in
// place of the locking.Acquirer a TryAcquire finds in its context.
type Acquirer interface {
	TryAcquireGrant(ctx context.Context, key string, timeout time.Duration, g *Grant, id Identity) error
}
