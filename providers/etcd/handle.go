package etcd

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// handle is one caller's queue entry: tracked from before it is created,
// so that the provider's watch sees its deletion, and a held lock once it is
// first in its queue.
type handle struct {
	p     *Provider
	key   string
	entry string
	slot  uint32    // the entry's name's slot, see Provider.track
	token uint64    // set when granted, before the handle is returned
	since time.Time // when it was granted, guarded by p.mu
	sess  *session

	// rev is the entry's create revision once known; deletedAt the latest
	// deletion of the entry's name the prefix watch reported before that.
	// Both are guarded by p.mu.
	rev       int64
	deletedAt int64

	// watchTimer has the entry watched once held for watchAfter; watched
	// says it is. Both are guarded by p.mu.
	watchTimer *time.Timer
	watched    bool

	lost locking.LostSignal

	releaseOnce sync.Once
	releaseErr  error
}

var _ locking.LostNotifier = (*handle)(nil)

// Key returns the key as the caller gave it.
func (h *handle) Key() string { return h.key }

// Token returns the entry's create revision: it grows with every grant of
// the key, cluster-wide.
func (h *handle) Token() uint64 { return h.token }

// Lost returns a channel closed when the lock can no longer be vouched for:
// the entry was deleted (by an operator, or by etcd when the lease expired)
// or two thirds of the TTL passed since the sending of the last renewal of
// the session lease that etcd confirmed.
func (h *handle) Lost() <-chan struct{} { return h.lost.Channel() }

// AfterLost runs f on a goroutine of its own once the lock is lost (at
// once if it is); stop unregisters f and reports whether it did so before f
// started. The locking behavior uses it (locking.LostNotifier) to watch a
// held lock without a goroutine per lock.
func (h *handle) AfterLost(f func()) (stop func() bool) { return h.lost.AfterLost(f) }

// LostSignal returns the signal that tells the lock's loss: the locking
// behavior watches it directly, which costs it no allocation (see
// locking.LostSignal).
func (h *handle) LostSignal() *locking.LostSignal { return &h.lost }

// Release deletes the entry, which hands the lock to the next in the queue.
// It runs on a context that ctx's cancellation does not reach, bounded by
// Options.ReleaseTimeout. Only the first call does the work; later ones
// return nil. It reports a *locking.UnavailableError when etcd did not
// confirm (the entry then goes with the session lease, which the provider
// stops renewing), and an error wrapping locking.ErrLockLost when the entry
// was already gone.
func (h *handle) Release(ctx context.Context) error {
	first := false
	h.releaseOnce.Do(func() {
		first = true
		h.p.untrack(h)
		ctx, cancel := untilDeadline(context.WithoutCancel(ctx), time.Now().Add(h.p.s.releaseTimeout))
		defer cancel()
		resp, err := h.p.client.Delete(ctx, h.entry)
		switch {
		case err != nil:
			h.p.abandon(h.sess)
			h.releaseErr = &locking.UnavailableError{Key: h.key, Err: fmt.Errorf("etcd: release: %w", err)}
		case resp.Deleted == 0:
			h.p.freeSlot(h)
			h.releaseErr = fmt.Errorf("etcd: release %q: %w (its entry was gone)", h.key, locking.ErrLockLost)
		default:
			h.p.freeSlot(h)
		}
	})
	if !first {
		return nil
	}
	return h.releaseErr
}
