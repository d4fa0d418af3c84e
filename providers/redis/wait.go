package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bsm/redislock"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/wait"
)

// wait is the rest of an acquisition that could not be had at once: place
// is the caller's place in the provider's queue for key, head whether it is
// first there (and made one attempt, answered with the holder's remaining
// lease). The caller also joins the subscription to the key's releases,
// which wake the head; a head tries again whenever it is woken: by a
// release, by the subscription's confirmation (a release may have come
// between the first attempt and the subscription), or by the fallback
// backoff. Waiters behind the head make no call to Redis and arm no timer
// but the timeout. wait gives up exactly at deadline, or when ctx ends; its
// Redis calls are cut short there too. It leaves place.
func (p *Provider) wait(ctx context.Context, r *request, place *wait.LocalWaiter, head bool, timeout time.Duration, deadline time.Time, remaining time.Duration) (locking.Handle, error) {
	key, k := r.key, r.k
	acquired := false
	defer func() { p.local.Leave(key, place, acquired) }()
	jctx, cancel := context.WithDeadline(ctx, deadline)
	w, err := p.waiters.JoinNotify(jctx, k.Channel, func() { p.local.WakeHead(key) })
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("redis: acquiring %q: %w", key, ctx.Err())
		}
		return nil, &locking.UnavailableError{Key: key, Err: fmt.Errorf("redis: subscribing to %s: %w", k.Channel, err)}
	}
	defer p.waiters.Leave(w, false)

	timeoutTimer := time.NewTimer(time.Until(deadline))
	defer timeoutTimer.Stop()
	var retry redislock.RetryStrategy // made when the caller is first the head
	backoff := time.NewTimer(time.Hour)
	backoff.Stop()
	defer backoff.Stop()
	schedule := func(remaining time.Duration) {
		if retry == nil {
			retry = p.s.NewRetry()
		}
		if d := base.NextWait(retry, remaining); d > 0 {
			backoff.Reset(d)
		}
	}
	// ready closes when Redis confirms the subscription; the head tries
	// once more then, in case the lock was freed before.
	ready := w.Ready()
	if head {
		schedule(remaining)
	}
	for {
		var readyC <-chan struct{}
		if head {
			readyC = ready
		}
		var (
			stop   error
			try    = true
			d      wait.Handoff
			handed bool
		)
		// Parked, the head may be handed the lock by a Release of this
		// provider (see wait.LocalQueues.ClaimHead).
		p.local.Park(place)
		select {
		case <-ctx.Done():
			stop = fmt.Errorf("redis: acquiring %q: %w", key, ctx.Err())
		case <-timeoutTimer.C:
			stop = &locking.Error{Key: key, Timeout: timeout}
		case <-p.waiters.Closing():
			stop = &locking.UnavailableError{Key: key, Err: base.ErrClosed}
		case <-readyC:
			ready = nil
		case <-place.Wake:
			head = true // only the head is woken
		case <-place.Promoted:
			// The head before us got the lock: wait for its release, with
			// the fallback retries armed from now on. A subscription
			// confirmed while we were behind needs no try of ours.
			head, try = true, false
			select {
			case <-ready:
				ready = nil
			default:
			}
			schedule(0)
		case d = <-place.Handoff:
			handed = true
		case <-backoff.C:
		}
		if p.local.Unpark(place) && !handed {
			// A Release claimed us before we left: its outcome comes at
			// once (the release is under way), and must be taken.
			d, handed = <-place.Handoff, true
		}
		if handed {
			head, try = true, true // no hand-on: the key was freed, or the release failed
			if d.Token > 0 {
				if stop == nil {
					acquired = true
					return p.newHandle(r, d.Token, d.Requested, true), nil
				}
				// Handed the lock after giving up: give it back.
				p.forgetLater(key, k, r.owner, d.Requested)
			}
		}
		if stop != nil {
			return nil, stop
		}
		if !try {
			continue
		}
		if !time.Now().Before(deadline) {
			// The timeout came with a wake-up: an attempt now would be cut
			// at once and look like a failure of Redis.
			return nil, &locking.Error{Key: key, Timeout: timeout}
		}
		h, rem, err := p.attempt(ctx, r, deadline)
		if err != nil {
			if ctx.Err() == nil && !time.Now().Before(deadline) && errors.Is(err, locking.ErrUnavailable) {
				// Redis answered "taken" before; an answer that the timeout
				// itself cut off says nothing more, so this is contention,
				// not an outage.
				return nil, &locking.Error{Key: key, Timeout: timeout}
			}
			return nil, err
		}
		if h != nil {
			acquired = true
			return h, nil
		}
		backoff.Stop()
		schedule(rem)
	}
}
