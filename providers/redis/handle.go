package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// handle is one held lease. Its keepAlive goroutine, started by newHandle
// and stopped by Release (or by the loss of the lease), extends the lease
// and closes lost when it cannot.
type handle struct {
	p     *Provider
	key   string
	k     keys
	owner string
	token uint64

	lost     chan struct{} // closed by keepAlive when the lease is gone
	stop     context.CancelFunc
	stopped  context.Context
	done     chan struct{} // closed when keepAlive returns
	released atomic.Bool
}

var _ locking.Handle = (*handle)(nil)

// newHandle starts the keepAlive goroutine of a lease granted by a request
// sent at requested: the lease is vouched for from then, not from the reply.
func (p *Provider) newHandle(key string, k keys, owner string, token uint64, requested time.Time) *handle {
	stopped, stop := context.WithCancel(context.Background())
	h := &handle{
		p: p, key: key, k: k, owner: owner, token: token,
		lost:    make(chan struct{}),
		stop:    stop,
		stopped: stopped,
		done:    make(chan struct{}),
	}
	go h.keepAlive(requested.Add(p.s.ttl))
	return h
}

// Key returns the lock key, without the provider's storage prefix.
func (h *handle) Key() string { return h.key }

// Token returns the fencing token of this grant.
func (h *handle) Token() uint64 { return h.token }

// Lost returns the channel closed when the lease can no longer be vouched
// for: Redis says another owner has the key, or Redis could not be reached
// to extend the lease before it ran out.
func (h *handle) Lost() <-chan struct{} { return h.lost }

// keepAlive extends the lease every refresh interval. A failed extension is
// retried sooner, until validUntil, the end of the last lease Redis granted;
// then the lease must be presumed expired and lost closes.
func (h *handle) keepAlive(validUntil time.Time) {
	defer close(h.done)
	s := h.p.s
	timer := time.NewTimer(s.refresh)
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
		ctx, cancel := context.WithDeadline(h.stopped, validUntil)
		requested := time.Now()
		n, err := extendScript.Run(ctx, h.p.client, []string{h.k.lock}, h.owner, h.p.ttlArg).Int64()
		cancel()
		switch {
		case h.stopped.Err() != nil:
			return
		case err == nil && n == 1:
			validUntil = requested.Add(s.ttl)
			timer.Reset(s.refresh)
		case err == nil:
			// Someone else owns the key now: the lease ran out.
			close(h.lost)
			return
		default:
			left := time.Until(validUntil)
			if left <= 0 {
				close(h.lost)
				return
			}
			timer.Reset(min(max(s.refresh/4, 10*time.Millisecond), left))
		}
	}
}

// Release stops the extensions and deletes the lock if this handle still
// owns it, announcing the release to waiters. It runs on a context that
// ctx's cancellation does not reach, bounded by Options.ReleaseTimeout.
// Only the first call does the work; later ones return nil. It reports a
// *locking.UnavailableError when Redis could not be reached, and an error
// wrapping locking.ErrLockLost when the lease had already passed to someone
// else.
func (h *handle) Release(ctx context.Context) error {
	if !h.released.CompareAndSwap(false, true) {
		return nil
	}
	h.stop()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.p.s.releaseTimeout)
	defer cancel()
	n, err := releaseScript.Run(ctx, h.p.client, []string{h.k.lock}, h.owner, h.k.channel).Int64()
	if err == nil && n == 1 {
		// Local waiters need not wait for the announcement to come back.
		h.p.waiters.wakeHead(h.k.channel)
	}
	// keepAlive ends promptly once stopped, unless an extension is stuck on
	// an unresponsive server; it then ends by its deadline on its own.
	select {
	case <-h.done:
	case <-ctx.Done():
	}
	switch {
	case err != nil:
		return &locking.UnavailableError{Key: h.key, Err: fmt.Errorf("redis: release: %w", err)}
	case n != 1:
		return fmt.Errorf("redis: release %q: %w (the key was no longer this handle's)", h.key, locking.ErrLockLost)
	}
	return nil
}
