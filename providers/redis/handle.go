package redis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/wait"
)

// handle is one held lease. Its extensions run on a timer (time.AfterFunc):
// no goroutine exists between two extensions, and an extension runs on the
// timer's own goroutine. Release stops the timer and waits for an extension
// in flight; the loss of the lease stops it too and closes lost.
type handle struct {
	p     *Provider
	r     *request // the acquisition's names and script arguments
	key   string
	k     base.Keys
	owner string
	token uint64
	// handedOn is whether a Release handed this lock over; its own Release
	// then frees the key for everyone when other providers wait for it.
	handedOn bool
	lost     locking.LostSignal // fires when the lease can no longer be vouched for

	mu         sync.Mutex
	timer      *time.Timer
	validUntil time.Time // end of the last lease Redis granted
	released   bool
	stopped    bool               // no more extensions: released or lost
	extending  chan struct{}      // non-nil while an extension runs; closed when it ends
	cancelExt  context.CancelFunc // cuts the extension in flight short
	releaseCtx releaseContext     // set by the first Release
}

// releaseContext is the context of a release: the values of the context
// Release was given, not its cancellation, and a deadline Options.ReleaseTimeout
// away. It has no Done channel (one would cost a timer per release): the
// deadline bounds the call where go-redis turns it into socket deadlines
// (clients with ContextTimeoutEnabled, as the registrations create), and
// waiting for a pooled connection is bounded by the client's PoolTimeout.
type releaseContext struct {
	parent   context.Context
	deadline time.Time
}

func (c *releaseContext) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *releaseContext) Done() <-chan struct{}       { return nil }
func (c *releaseContext) Err() error                  { return nil }
func (c *releaseContext) Value(key any) any           { return c.parent.Value(key) }

var (
	_ locking.Handle       = (*handle)(nil)
	_ locking.LostNotifier = (*handle)(nil)
)

// newHandle arms the extensions of a lease granted by a request sent at
// requested: the lease is vouched for from then, not from the reply.
func (p *Provider) newHandle(r *request, token uint64, requested time.Time, handedOn bool) *handle {
	h := &handle{
		p: p, r: r, key: r.key, k: r.k, owner: r.owner, token: token, handedOn: handedOn,
		validUntil: requested.Add(p.s.TTL),
	}
	h.mu.Lock() // the timer may fire before h.timer is set
	h.timer = time.AfterFunc(base.UntilRefresh(requested, p.s.Refresh), h.extend)
	h.mu.Unlock()
	return h
}

// Key returns the lock key, without the provider's storage prefix.
func (h *handle) Key() string { return h.key }

// Token returns the fencing token of this grant.
func (h *handle) Token() uint64 { return h.token }

// Lost returns the channel closed when the lease can no longer be vouched
// for: Redis says another owner has the key, or Redis could not be reached
// to extend the lease before it ran out.
func (h *handle) Lost() <-chan struct{} { return h.lost.Channel() }

// extend renews the lease once and re-arms the timer. A failed extension is
// retried sooner, until validUntil; then the lease must be presumed expired
// and lost closes.
func (h *handle) extend() {
	s := h.p.s
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	// Redis's clock may run a little ahead of ours: the lease is presumed
	// gone a margin before our reckoning of its end.
	validUntil := h.validUntil.Add(-s.DriftMargin())
	if !time.Now().Before(validUntil) {
		h.loseLocked()
		h.mu.Unlock()
		return
	}
	// The call may not outlive the lease it tries to extend.
	ctx, cancel := context.WithDeadline(context.Background(), validUntil)
	done := make(chan struct{})
	h.extending, h.cancelExt = done, cancel
	h.mu.Unlock()

	requested := time.Now()
	n, err := extendScript.Run(ctx, h.p.client, []string{h.k.Lock}, h.owner, h.p.ttlArg).Int64()
	cancel()

	h.mu.Lock()
	defer h.mu.Unlock()
	defer close(done)
	h.extending, h.cancelExt = nil, nil
	switch {
	case h.stopped:
	case err == nil && n == 1:
		h.validUntil = requested.Add(s.TTL)
		h.timer.Reset(base.UntilRefresh(requested, s.Refresh))
	case err == nil:
		// Someone else owns the key now: the lease ran out.
		h.loseLocked()
	default:
		left := time.Until(validUntil)
		if left <= 0 {
			h.loseLocked()
			return
		}
		h.timer.Reset(min(max(s.Refresh/4, 10*time.Millisecond), left))
	}
}

func (h *handle) loseLocked() {
	h.stopped = true
	h.lost.Fire()
}

// AfterLost arranges for f to run, on a goroutine of its own, once the lease
// is lost (at once if it already is); stop unregisters f and reports whether
// it did so before f was started, as with context.AfterFunc. The locking
// behavior uses it (locking.LostNotifier) to watch a lease without a
// goroutine per held lock; Lost remains for everyone else.
func (h *handle) AfterLost(f func()) (stop func() bool) { return h.lost.AfterLost(f) }

// LostSignal returns the signal that tells the lock's loss: the locking
// behavior watches it directly, which costs it no allocation (see
// locking.LostSignal).
func (h *handle) LostSignal() *locking.LostSignal { return &h.lost }

// Release stops the extensions and deletes the lock if this handle still
// owns it, announcing the release to waiters. It runs on a context that
// ctx's cancellation does not reach, bounded by Options.ReleaseTimeout.
// Only the first call does the work; later ones return nil. It reports a
// *locking.UnavailableError when Redis could not be reached (the release
// then goes on in the background, retried until Redis answers or the lease
// would have ended), and an error wrapping locking.ErrLockLost when the key
// was no longer this handle's.
func (h *handle) Release(ctx context.Context) error {
	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		return nil
	}
	h.released, h.stopped = true, true
	h.timer.Stop()
	extending, cancelExt := h.extending, h.cancelExt
	validUntil := h.validUntil
	h.mu.Unlock()
	if cancelExt != nil {
		cancelExt()
	}

	h.releaseCtx = releaseContext{parent: ctx, deadline: time.Now().Add(h.p.s.ReleaseTimeout)}
	n, err := h.releaseOrHandOn()
	if err != nil {
		// Redis may be down, or may have deleted the key and lost the
		// reply: the release is retried in the background until Redis
		// answers or the lease would have ended anyway.
		h.p.releaseLater(h.key, h.k, h.owner, validUntil.Add(h.p.s.DriftMargin()))
	}
	if n <= 1 {
		// Local waiters need not wait for the announcement to come back
		// (this provider ignores its own). A release whose reply was lost
		// may have been applied too: the head tries again either way,
		// since a needless try costs one call and a missed wake-up a
		// whole lease.
		h.p.local.WakeHead(h.key)
	}
	if extending != nil {
		// An extension stuck on an unresponsive server ends by its own
		// deadline; Release does not wait past its timeout for it.
		t := time.NewTimer(time.Until(h.releaseCtx.deadline))
		select {
		case <-extending:
		case <-t.C:
		}
		t.Stop()
	}
	switch {
	case err != nil:
		return &locking.UnavailableError{Key: h.key, Err: fmt.Errorf("redis: release: %w", err)}
	case n == 0:
		return fmt.Errorf("redis: release %q: %w (the key was no longer this handle's)", h.key, locking.ErrLockLost)
	}
	return nil
}

// releaseOrHandOn deletes the lock, or, when a goroutine of this provider
// waits for the key at the head of its queue, hands the lock over to it in
// the same call (releaseHandOnScript): the waiter gets the lock one round
// trip after the release was sent instead of two, and Redis runs one script
// per grant instead of two. It returns 0 when the key was no longer this
// handle's, 1 when it was released, or the new holder's token when handed on.
func (h *handle) releaseOrHandOn() (int64, error) {
	p := h.p
	next := p.local.ClaimHead(h.key)
	if next == nil {
		return p.batch.run(&h.releaseCtx, base.ReleaseScript, h.r.scriptKeys[:1], h.r.releaseArgs[:]...)
	}
	handedOn := "0"
	if h.handedOn {
		handedOn = "1"
	}
	sent := time.Now()
	n, err := p.batch.run(&h.releaseCtx, releaseHandOnScript, h.r.scriptKeys[:],
		h.r.releaseArgs[0], h.r.releaseArgs[1], next.Owner(), p.ttlArg, p.fenceTTLArg, handedOn, base.NowArg)
	if err == nil && n > 1 {
		p.local.HandOn(next, wait.Handoff{Token: uint64(n), Requested: sent})
	} else {
		// Not handed on: the key was freed (or the call failed, and the
		// waiter, trying with its own owner value, is given what the call
		// may have handed it).
		p.local.HandOn(next, wait.Handoff{})
	}
	return n, err
}
