package redlock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
)

// redlockHandle is one lock held on a majority of nodes. Its extensions run
// on a timer (time.AfterFunc), each on the timer's own goroutine, so no
// goroutine exists between two of them. Release stops the timer and waits
// for an extension in flight; the loss of the majority stops it too and
// closes lost.
type redlockHandle struct {
	l        *lease
	token    uint64
	tokenArg string
	// releaseArgs are the release script's ARGV, boxed once for all nodes.
	releaseArgs []any
	lost        locking.LostSignal // fires when a majority can no longer be vouched for
	stop        chan struct{}      // closed by Release: cuts an extension in flight short
	// woke is set by Release just before it wakes this provider's first
	// waiter for the key; a release retried later wakes it again (see
	// Release).
	woke atomic.Bool

	mu         sync.Mutex
	timer      *time.Timer
	validUntil time.Time // until when the last majority grant or extension holds
	released   bool
	stopped    bool          // no more extensions: released or lost
	extending  chan struct{} // non-nil while an extension runs; closed when it ends
}

var (
	_ locking.Handle       = (*redlockHandle)(nil)
	_ locking.LostNotifier = (*redlockHandle)(nil)
)

// newRedlockHandle arms the extensions of a lease granted by requests sent
// at requested, vouched for until validUntil.
func (r *Provider) newRedlockHandle(l *lease, token uint64, requested, validUntil time.Time) *redlockHandle {
	tokenArg := strconv.FormatUint(token, 10)
	h := &redlockHandle{
		l: l, token: token, tokenArg: tokenArg,
		releaseArgs: []any{l.owner, l.k.Channel, tokenArg, r.fenceTTLArg},
		stop:        make(chan struct{}),
		validUntil:  validUntil,
	}
	h.mu.Lock() // the timer may fire before h.timer is set
	h.timer = time.AfterFunc(base.UntilRefresh(requested, r.s.Refresh), h.extend)
	h.mu.Unlock()
	return h
}

// Key returns the lock key, without the provider's storage prefix.
func (h *redlockHandle) Key() string { return h.l.key }

// Token returns the fencing token agreed by the granting majority.
func (h *redlockHandle) Token() uint64 { return h.token }

// Lost returns the channel closed when a majority of the nodes can no longer
// be vouched for: too many of them say another owner has the key, or too few
// answered to extend the lease before it ran out.
func (h *redlockHandle) Lost() <-chan struct{} { return h.lost.Channel() }

// AfterLost arranges for f to run, on a goroutine of its own, once the
// majority is lost (at once if it already is); stop unregisters f and
// reports whether it did so before f was started, as with
// context.AfterFunc. The locking behavior uses it (locking.LostNotifier) to
// watch the lock without a goroutine per held lock.
func (h *redlockHandle) AfterLost(f func()) (stop func() bool) { return h.lost.AfterLost(f) }

// LostSignal returns the signal that tells the lock's loss: the locking
// behavior watches it directly, which costs it no allocation (see
// locking.LostSignal).
func (h *redlockHandle) LostSignal() *locking.LostSignal { return &h.lost }

// extend renews the lease on every node once and re-arms the timer. It
// counts the nodes that held the key without a gap; when they are a
// majority the lease is vouched for until TTL - drift after the request. A
// failed extension is retried sooner, until validUntil; then, or as soon as
// too many nodes say the key is gone, lost closes.
func (h *redlockHandle) extend() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	validUntil := h.validUntil
	if !time.Now().Before(validUntil) {
		h.loseLocked()
		h.mu.Unlock()
		return
	}
	done := make(chan struct{})
	h.extending = done
	h.mu.Unlock()
	defer close(done)

	r := h.l.r
	n, q := len(r.nodes), r.quorum
	requested := time.Now()
	deadline := base.Earliest(validUntil, requested.Add(r.s.nodeTimeout))
	replies, asked := r.fanOut(deadline, h.l, retakenReply, h.extendOn)
	held, gone := 0, 0
	gather(replies, asked, deadline, h.stop, func(rp reply) bool {
		switch {
		case rp.err != nil:
		case rp.n == 1:
			held++
		default:
			// Another owner has the key there (0), or it had vanished and
			// was taken again (2): no gap-free hold on that node.
			gone++
		}
		return held >= q || n-gone < q
	})

	h.mu.Lock()
	defer h.mu.Unlock()
	h.extending = nil
	switch {
	case h.stopped:
	case held >= q:
		h.validUntil = requested.Add(r.s.TTL - r.s.drift)
		h.timer.Reset(base.UntilRefresh(requested, r.s.Refresh))
	case n-gone < q:
		h.loseLocked()
	default:
		left := time.Until(validUntil)
		if left <= 0 {
			h.loseLocked()
			return
		}
		h.timer.Reset(min(max(r.s.Refresh/4, 10*time.Millisecond), left))
	}
}

func (h *redlockHandle) extendOn(ctx context.Context, c Client) (int64, error) {
	return redlockExtendScript.Run(ctx, c, h.l.scriptKeys, h.l.owner, h.l.r.ttlArg, h.tokenArg, h.l.r.fenceTTLArg).Int64()
}

// loseLocked stops the extensions and closes lost; h.mu is held.
func (h *redlockHandle) loseLocked() {
	h.stopped = true
	h.lost.Fire()
}

// Release stops the extensions and deletes the lock on every node where
// this handle still owns it, then wakes this provider's first goroutine waiting
// for the key. It returns once a majority confirmed, or every node answered,
// within Options.ReleaseTimeout; ctx's cancellation does not cut it short.
// Only the first call does the work; later ones return nil. It reports a
// *locking.UnavailableError when too few nodes answered, and an error
// wrapping locking.ErrLockLost when the majority had already passed to
// someone else.
func (h *redlockHandle) Release(ctx context.Context) error {
	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		return nil
	}
	h.released, h.stopped = true, true
	h.timer.Stop()
	extending := h.extending
	validUntil := h.validUntil
	close(h.stop)
	h.mu.Unlock()

	l, r := h.l, h.l.r
	l.markGiven()
	deadline := time.Now().Add(r.s.ReleaseTimeout)
	// A node that fails the release (it is down, or lost the reply) is
	// retried in the background until it answers or the lease would have
	// ended there anyway, so that its key is free soon after it is back.
	until := validUntil.Add(r.s.drift)
	replies, asked := r.fanOut(deadline, nil, nil, func(ctx context.Context, c Client) (int64, error) {
		n, err := h.releaseOn(ctx, c)
		if err != nil {
			node := r.nodeIndexOf(c)
			r.giveBacks.Run(node, until, func(ctx context.Context, c Client) error {
				if _, err := h.releaseOn(ctx, c); err != nil {
					return err
				}
				// The node's announcement of this deletion is this
				// provider's own, which its subscription ignores. A
				// retry done before Release wakes the head needs no
				// wake of its own; one done after it does: the head,
				// refused while the key was still held here, is woken
				// by nobody else.
				if h.woke.Load() {
					r.local.WakeHead(l.key)
				}
				return nil
			})
		}
		return n, err
	})
	released := 0
	var errs []error
	gather(replies, asked, deadline, nil, func(rp reply) bool {
		switch {
		case rp.err != nil:
			errs = append(errs, fmt.Errorf("node %d: %w", rp.node, rp.err))
		case rp.n == 1:
			released++
		}
		return released >= r.quorum
	})
	h.woke.Store(true)
	r.local.WakeHead(l.key)
	if extending != nil {
		<-extending // cut short by stop: its wait for replies ends at once
	}
	switch {
	case released >= r.quorum:
		return nil
	case len(errs) > 0:
		return &locking.UnavailableError{Key: l.key, Err: fmt.Errorf(
			"redis: redlock release: deleted on %d of %d nodes, %d needed: %w", released, len(r.nodes), r.quorum, errors.Join(errs...))}
	}
	return fmt.Errorf("redis: release %q: %w (a majority of the nodes no longer held it for this handle)", l.key, locking.ErrLockLost)
}

func (h *redlockHandle) releaseOn(ctx context.Context, c Client) (int64, error) {
	return redlockReleaseScript.Run(ctx, c, h.l.scriptKeys, h.releaseArgs...).Int64()
}

// nodeIndexOf returns the index of the node whose client is c.
func (r *Provider) nodeIndexOf(c Client) int {
	for i, x := range r.nodes {
		if x == c {
			return i
		}
	}
	return -1
}
