package redis

import (
	"context"
	"sync"
	"time"
)

// wakeups let a Release wake the goroutines of the same provider that wait
// for the key at once, without the round trip of its announcement. Waiters
// of other providers (other processes) are woken by the announcement, which
// reaches them through their subscriptions on the nodes (see join).
type wakeups struct {
	mu sync.Mutex
	m  map[string]*wakeup // by key; removed when woken or when nobody watches
}

// wakeup is closed (ch) by the next release of its key.
type wakeup struct {
	ch       chan struct{}
	watchers int
}

// watch returns the wakeup of key's next release; the caller must unwatch.
func (ws *wakeups) watch(key string) *wakeup {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w := ws.m[key]
	if w == nil {
		w = &wakeup{ch: make(chan struct{})}
		ws.m[key] = w
	}
	w.watchers++
	return w
}

// unwatch drops the caller's interest in w; the last watcher removes it.
func (ws *wakeups) unwatch(key string, w *wakeup) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w.watchers--
	if w.watchers == 0 && ws.m[key] == w {
		delete(ws.m, key)
	}
}

// wake wakes every goroutine watching key.
func (ws *wakeups) wake(key string) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if w := ws.m[key]; w != nil {
		close(w.ch)
		delete(ws.m, key)
	}
}

// nodeWaiter is a Redlock waiter's place in one node's queue for a key.
type nodeWaiter struct {
	node int
	w    *waiter
}

// join queues the caller for channel on every node, with the shared wake
// channel announced, and waits (up to NodeTimeout, never past deadline)
// until a majority of the nodes confirmed the subscription: a release is
// announced on every node where it deletes the lock, a majority of them, so
// one of those is sure to tell us. A node that fails to subscribe is left
// out: the fallback retries cover it. join returns a non-nil slice (empty
// when no node could be joined), which the caller must hand to leave.
func (r *Redlock) join(ctx context.Context, channel string, deadline time.Time, announced chan struct{}) []nodeWaiter {
	bound := earliest(deadline, time.Now().Add(r.s.nodeTimeout))
	jctx, cancel := context.WithDeadline(ctx, bound)
	defer cancel()
	queued := make([]nodeWaiter, 0, len(r.subs))
	for i, ws := range r.subs {
		w, err := ws.joinWith(jctx, channel, announced)
		if err != nil {
			continue
		}
		queued = append(queued, nodeWaiter{node: i, w: w})
	}
	need := min(r.quorum, len(queued))
	confirmed := make(chan struct{}, len(queued))
	pending := 0
	for _, nw := range queued {
		select {
		case <-nw.w.q.ready:
			need--
		default:
			// Unconfirmed: watch it until jctx ends (cancelled on return).
			pending++
			go func(ready <-chan struct{}) {
				select {
				case <-ready:
					confirmed <- struct{}{}
				case <-jctx.Done():
				}
			}(nw.w.q.ready)
		}
	}
	for ; need > 0 && pending > 0; need, pending = need-1, pending-1 {
		select {
		case <-confirmed:
		case <-jctx.Done():
			return queued
		}
	}
	return queued
}

// leave takes the caller out of the queues join put it in.
func (r *Redlock) leave(queued []nodeWaiter, acquired bool) {
	for _, nw := range queued {
		r.subs[nw.node].leave(nw.w, acquired)
	}
}
