package redlock

import (
	"context"
	"sync"
	"time"

	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/wait"
)

// nodeWaiter is a Redlock waiter's place in one node's queue for a key.
type nodeWaiter struct {
	node int
	w    *wait.Waiter
}

// join queues the caller for channel on every node, each place calling
// notify when its node announces a release, and waits (up to NodeTimeout,
// never past deadline) until a majority of the nodes confirmed the
// subscription: a release is
// announced on every node where it deletes the lock, a majority of them, so
// one of those is sure to tell us. A node that fails to subscribe is left
// out: the fallback retries cover it. The caller must hand the result to
// leave.
//
// Nodes whose subscription to channel is made, or under way, are joined at
// once; the others in parallel, each on a goroutine of its own, so that a
// node that does not answer delays neither the others' joins nor the return
// once a majority confirmed. Joins still under way then go on, up to the
// same bound, and count from when they succeed; leave ends them.
func (r *Provider) join(ctx context.Context, channel string, deadline time.Time, notify func()) *redlockJoin {
	bound := base.Earliest(deadline, time.Now().Add(r.s.nodeTimeout))
	jctx, cancel := context.WithDeadline(ctx, bound)
	j := &redlockJoin{queued: make([]nodeWaiter, 0, len(r.subs)), cancel: cancel}
	// counting ends when join returns; the joins go on until leave.
	counting, stopCounting := context.WithCancel(jctx)
	defer stopCounting()
	// events receives at most one value per node: true once its
	// subscription is confirmed, false when it could not be joined.
	events := make(chan bool, len(r.subs))
	for i, ws := range r.subs {
		w, ok, err := ws.JoinSubscribedNotify(channel, notify)
		switch {
		case err != nil:
			events <- false
		case ok:
			j.add(nodeWaiter{node: i, w: w})
			select {
			case <-w.Ready():
				events <- true
			default:
				go awaitReady(counting, w.Ready(), events)
			}
		default:
			go func() {
				w, err := ws.JoinNotify(jctx, channel, notify)
				if err != nil {
					events <- false
					return
				}
				if !j.add(nodeWaiter{node: i, w: w}) {
					ws.Leave(w, false) // the caller has left already
					return
				}
				awaitReady(counting, w.Ready(), events)
			}()
		}
	}
	confirmed, failed := 0, 0
	for confirmed < min(r.quorum, len(r.subs)-failed) {
		select {
		case ok := <-events:
			if ok {
				confirmed++
			} else {
				failed++
			}
		case <-jctx.Done():
			return j
		}
	}
	return j
}

// awaitReady sends true on events when ready closes before ctx ends.
func awaitReady(ctx context.Context, ready <-chan struct{}, events chan<- bool) {
	select {
	case <-ready:
		events <- true
	case <-ctx.Done():
	}
}

// redlockJoin is a Redlock waiter's places in the nodes' queues for a key.
type redlockJoin struct {
	cancel context.CancelFunc // ends the joins still under way

	mu     sync.Mutex
	queued []nodeWaiter
	left   bool
}

// add records nw and reports whether the waiter still waits; false means it
// left, and the caller must take nw out of its queue itself.
func (j *redlockJoin) add(nw nodeWaiter) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.left {
		return false
	}
	j.queued = append(j.queued, nw)
	return true
}

// leave takes the caller out of the queues join put it in, and ends the
// joins still under way. Handing a wake-up on is the local queue's part.
func (r *Provider) leave(j *redlockJoin, acquired bool) {
	j.mu.Lock()
	j.left = true
	queued := j.queued
	j.queued = nil
	j.mu.Unlock()
	j.cancel()
	for _, nw := range queued {
		r.subs[nw.node].Leave(nw.w, acquired)
	}
}
