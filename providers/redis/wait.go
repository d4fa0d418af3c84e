package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bsm/redislock"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
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
func (p *Provider) wait(ctx context.Context, r *request, place *localWaiter, head bool, timeout time.Duration, deadline time.Time, remaining time.Duration) (locking.Handle, error) {
	key, k := r.key, r.k
	acquired := false
	defer func() { p.local.leave(key, place, acquired) }()
	jctx, cancel := context.WithDeadline(ctx, deadline)
	w, err := p.waiters.joinNotify(jctx, k.channel, func() { p.local.wakeHead(key) })
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("redis: acquiring %q: %w", key, ctx.Err())
		}
		return nil, &locking.UnavailableError{Key: key, Err: fmt.Errorf("redis: subscribing to %s: %w", k.channel, err)}
	}
	defer p.waiters.leave(w, false)

	timeoutTimer := time.NewTimer(time.Until(deadline))
	defer timeoutTimer.Stop()
	var retry redislock.RetryStrategy // made when the caller is first the head
	backoff := time.NewTimer(time.Hour)
	backoff.Stop()
	defer backoff.Stop()
	schedule := func(remaining time.Duration) {
		if retry == nil {
			retry = p.s.newRetry()
		}
		if d := nextWait(retry, remaining); d > 0 {
			backoff.Reset(d)
		}
	}
	// ready closes when Redis confirms the subscription; the head tries
	// once more then, in case the lock was freed before.
	ready := w.q.ready
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
			d      handoff
			handed bool
		)
		// Parked, the head may be handed the lock by a Release of this
		// provider (see localQueues.claimHead).
		p.local.park(place)
		select {
		case <-ctx.Done():
			stop = fmt.Errorf("redis: acquiring %q: %w", key, ctx.Err())
		case <-timeoutTimer.C:
			stop = r.contended(timeout)
		case <-p.waiters.closing:
			stop = &locking.UnavailableError{Key: key, Err: errClosed}
		case <-readyC:
			ready = nil
		case <-place.wake:
			head = true // only the head is woken
		case <-place.promoted:
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
		case d = <-place.handoff:
			handed = true
		case <-backoff.C:
		}
		if p.local.unpark(place) && !handed {
			// A Release claimed us before we left: its outcome comes at
			// once (the release is under way), and must be taken.
			d, handed = <-place.handoff, true
		}
		if handed {
			head, try = true, true // no hand-on: the key was freed, or the release failed
			if d.token > 0 {
				if stop == nil {
					acquired = true
					return p.newHandle(r, d.token, d.requested, true), nil
				}
				// Handed the lock after giving up: give it back.
				p.forgetLater(key, k, r.owner, d.requested)
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
			return nil, r.contended(timeout)
		}
		h, rem, err := p.attempt(ctx, r, deadline)
		if err != nil {
			if ctx.Err() == nil && !time.Now().Before(deadline) && errors.Is(err, locking.ErrUnavailable) {
				// Redis answered "taken" before; an answer that the timeout
				// itself cut off says nothing more, so this is contention,
				// not an outage.
				return nil, r.contended(timeout)
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

// nextWait is how long a waiter sleeps before its next timed try: the retry
// strategy's next backoff, jittered between half and all of it so the waiters
// of one release do not retry in step, and no later than just after the
// holder's lease ends when its remaining time is known (a lease nobody
// extends ends at a known moment). 0 means no timed try.
func nextWait(retry redislock.RetryStrategy, remaining time.Duration) time.Duration {
	d := retry.NextBackoff()
	if d > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	if remaining > 0 && (d <= 0 || remaining+time.Millisecond < d) {
		d = remaining + time.Millisecond
	}
	return d
}
