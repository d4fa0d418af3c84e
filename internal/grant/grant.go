// Package grant is the handle of an in-process lock grant, shared by the
// in-memory provider, which fills it, and the locking behavior, which can
// carry it inside its per-Send scope so that a locked Send allocates once.
//
// It is internal: the way the two meet is not part of either package's
// public contract, and another provider cannot implement [Acquirer].
package grant

import (
	"context"
	"time"
)

// Releaser gives a grant's key back. Every Release of a grant calls its
// ReleaseGrant, which takes a lock of its own that guards all of the grant's
// releases (the same lock for every Release of one grant), calls
// [Grant.FirstRelease] under it, and gives the key back only when that
// answers true.
type Releaser interface {
	ReleaseGrant(g *Grant)
}

// Owner is the Releaser a Grant gives its key back to, kept by the provider
// in its state of the key (set once, when that state is made), so that a
// Grant points to it with one word instead of holding the two of an
// interface: eight bytes less in every scope that carries a Grant.
type Owner struct{ r Releaser }

// NewOwner returns the Owner that gives keys back to r.
func NewOwner(r Releaser) Owner { return Owner{r: r} }

// Grant is one grant of a key: a locking.Handle. Every grant gets a Grant of
// its own (a new one, or the zero Grant inside a fresh scope), so a stale
// Grant, released already, can never free a later holder's lock.
type Grant struct {
	key   string
	token uint64
	owner *Owner
	// released is set by the first Release, under the owner's lock (see
	// Releaser): the lock the release takes anyway orders the releases, so
	// the flag needs no atomic instruction of its own.
	released bool
	// atOnce is set by SetAtOnce: the key was granted without queueing.
	atOnce bool
}

// Set fills a zero Grant when its key is granted; owner outlives every Grant
// that points to it.
func (g *Grant) Set(key string, token uint64, owner *Owner) {
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
// from any goroutine, return nil and do nothing. A Grant that was never
// granted has nothing to give back. It never blocks for long (the owner's
// lock is held only briefly), so ctx is not consulted.
func (g *Grant) Release(context.Context) error {
	if g.owner != nil {
		g.owner.r.ReleaseGrant(g)
	}
	return nil
}

// FirstRelease marks g released and reports whether it was not released
// before. Only g's Releaser calls it, holding the lock that guards all of g's
// releases.
func (g *Grant) FirstRelease() bool {
	if g.released {
		return false
	}
	g.released = true
	return true
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
