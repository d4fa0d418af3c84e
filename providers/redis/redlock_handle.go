package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// redlockHandle is one lock held on a majority of nodes. Its keepAlive
// goroutine, started by newRedlockHandle and stopped by Release (or by the
// loss of the majority), extends the lease on every node and closes lost
// when a majority can no longer be vouched for.
type redlockHandle struct {
	l     *lease
	token uint64

	lost     chan struct{} // closed by keepAlive when the lease is gone
	stop     context.CancelFunc
	stopped  context.Context
	done     chan struct{} // closed when keepAlive returns
	released atomic.Bool
}

var _ locking.Handle = (*redlockHandle)(nil)

func (r *Redlock) newRedlockHandle(l *lease, token uint64, validUntil time.Time) *redlockHandle {
	stopped, stop := context.WithCancel(context.Background())
	h := &redlockHandle{
		l: l, token: token,
		lost:    make(chan struct{}),
		stop:    stop,
		stopped: stopped,
		done:    make(chan struct{}),
	}
	go h.keepAlive(validUntil)
	return h
}

// Key returns the lock key, without the provider's storage prefix.
func (h *redlockHandle) Key() string { return h.l.key }

// Token returns the fencing token agreed by the granting majority.
func (h *redlockHandle) Token() uint64 { return h.token }

// Lost returns the channel closed when a majority of the nodes can no longer
// be vouched for: too many of them say another owner has the key, or too few
// answered to extend the lease before it ran out.
func (h *redlockHandle) Lost() <-chan struct{} { return h.lost }

// keepAlive extends the lease every refresh interval. An extension counts
// the nodes that held the key without a gap; when they are a majority the
// lease is vouched for until TTL - drift after the extension's request. A
// failed extension is retried sooner, until validUntil; then, or as soon as
// too many nodes say the key is gone, lost closes.
func (h *redlockHandle) keepAlive(validUntil time.Time) {
	defer close(h.done)
	r := h.l.r
	n, q := len(r.nodes), r.quorum
	tokenArg := strconv.FormatUint(h.token, 10)
	extend := func(ctx context.Context, c Client) (int64, error) {
		return redlockExtendScript.Run(ctx, c, h.l.scriptKeys(), h.l.owner, r.ttlArg, tokenArg).Int64()
	}
	timer := time.NewTimer(r.s.refresh)
	defer timer.Stop()
	for {
		select {
		case <-h.stopped.Done():
			return
		case <-timer.C:
		}
		if !time.Now().Before(validUntil) {
			close(h.lost)
			return
		}
		requested := time.Now()
		deadline := earliest(validUntil, requested.Add(r.s.nodeTimeout))
		replies, asked := r.fanOut(deadline, h.l, retakenReply, extend)
		held, gone := 0, 0
		gather(replies, asked, deadline, h.stopped.Done(), func(rp reply) bool {
			switch {
			case rp.err != nil:
			case rp.n == 1:
				held++
			default:
				// Another owner has the key there (0), or it had vanished
				// and was taken again (2): no gap-free hold on that node.
				gone++
			}
			return held >= q || n-gone < q
		})
		switch {
		case h.stopped.Err() != nil:
			return
		case held >= q:
			validUntil = requested.Add(r.s.ttl - r.s.drift)
			timer.Reset(r.s.refresh)
		case n-gone < q:
			close(h.lost)
			return
		default:
			left := time.Until(validUntil)
			if left <= 0 {
				close(h.lost)
				return
			}
			timer.Reset(min(max(r.s.refresh/4, 10*time.Millisecond), left))
		}
	}
}

// Release stops the extensions and deletes the lock on every node where
// this handle still owns it, then wakes this provider's goroutines waiting
// for the key. It returns once a majority confirmed, or every node answered,
// within Options.ReleaseTimeout; ctx's cancellation does not cut it short.
// Only the first call does the work; later ones return nil. It reports a
// *locking.UnavailableError when too few nodes answered, and an error
// wrapping locking.ErrLockLost when the majority had already passed to
// someone else.
func (h *redlockHandle) Release(ctx context.Context) error {
	if !h.released.CompareAndSwap(false, true) {
		return nil
	}
	h.stop()
	l, r := h.l, h.l.r
	l.markGiven()
	deadline := time.Now().Add(r.s.releaseTimeout)
	tokenArg := strconv.FormatUint(h.token, 10)
	replies, asked := r.fanOut(deadline, nil, nil, func(ctx context.Context, c Client) (int64, error) {
		return redlockReleaseScript.Run(ctx, c, l.scriptKeys(), l.owner, l.k.channel, tokenArg).Int64()
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
	r.wakes.wake(l.key)
	// keepAlive ends promptly once stopped: its wait for replies ends too.
	<-h.done
	switch {
	case released >= r.quorum:
		return nil
	case len(errs) > 0:
		return &locking.UnavailableError{Key: l.key, Err: fmt.Errorf(
			"redis: redlock release: deleted on %d of %d nodes, %d needed: %w", released, len(r.nodes), r.quorum, errors.Join(errs...))}
	}
	return fmt.Errorf("redis: release %q: %w (a majority of the nodes no longer held it for this handle)", l.key, locking.ErrLockLost)
}
