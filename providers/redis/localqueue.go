package redis

import (
	"slices"
	"sync"
	"time"
)

// localQueues keep the goroutines of one provider (single node or Redlock)
// that want a key in arrival order, and let only the first of them, the
// head, talk to Redis: a TryAcquire with a timeout joins its key's queue
// before anything else, the head tries, and the others wait until they are
// the head. A release wakes the head only, whether it is this provider's
// own Release (which calls wakeHead) or another process's, announced on the
// key's channel (the subscription's notify calls wakeHead too). A head that
// leaves with the lock promotes the next waiter, which then waits for that
// lock's release (with its fallback retries armed) without trying at once;
// a head that leaves without the lock wakes the next, so that a release it
// was woken for, or was about to be, is not lost with it. Waking one
// goroutine rather than all of them also keeps a Redlock provider's own
// goroutines from splitting the nodes' votes among themselves.
//
// A key's queue exists while somebody is in it, so a million keys locked
// one after the other leave nothing behind. Queues and waiters are reused
// (sync.Pool): an acquisition that finds its key free allocates neither.
type localQueues struct {
	mu sync.Mutex
	m  map[string]*localQueue // by key; removed when empty

	queuePool  sync.Pool // of *localQueue, empty
	waiterPool sync.Pool // of *localWaiter, with no signal pending
}

// localQueue is one key's waiters, head first.
type localQueue struct {
	ws []*localWaiter
}

// localWaiter is one TryAcquire's place in its key's local queue. Only the
// head is ever signalled.
type localWaiter struct {
	// wake receives a token when the head should try: a release, or a head
	// that gave up before it. Room for one: a wake-up that comes while it
	// tries is kept.
	wake chan struct{}
	// promoted receives a token when the waiter became the head because the
	// head before it got the lock: it waits for that lock's release.
	promoted chan struct{}
	// owner is the owner value the waiter asks Redis with; "" for a waiter
	// that can never be handed a lock (Redlock's).
	owner string
	// parked is set while the waiter waits for a signal (not trying);
	// claimed once a Release took it as the one to hand its lock to. A
	// claimed waiter takes exactly one handoff. Both under localQueues.mu.
	parked, claimed bool
	// handoff receives the outcome of the Release that claimed the waiter.
	handoff chan handoff
}

// handoff is what a Release tells the waiter it claimed: the token of the
// lock it handed over, with the moment its request was sent (the lease
// counts from then), or a zero token when it freed the key instead.
type handoff struct {
	token     uint64
	requested time.Time
}

func newLocalQueues() *localQueues {
	return &localQueues{m: make(map[string]*localQueue)}
}

// join puts a waiter asking with owner at the tail of key's queue and
// reports whether it is the head. The caller must leave, and use w no more
// after that.
func (lq *localQueues) join(key, owner string) (w *localWaiter, head bool) {
	if x, ok := lq.waiterPool.Get().(*localWaiter); ok {
		w = x
	} else {
		w = &localWaiter{wake: make(chan struct{}, 1), promoted: make(chan struct{}, 1), handoff: make(chan handoff, 1)}
	}
	w.owner = owner
	lq.mu.Lock()
	defer lq.mu.Unlock()
	q := lq.m[key]
	if q == nil {
		if x, ok := lq.queuePool.Get().(*localQueue); ok {
			q = x
		} else {
			q = &localQueue{}
		}
		lq.m[key] = q
	}
	q.ws = append(q.ws, w)
	return w, len(q.ws) == 1
}

// count returns how many goroutines of this provider are in key's queue.
func (lq *localQueues) count(key string) int {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	if q := lq.m[key]; q != nil {
		return len(q.ws)
	}
	return 0
}

// queued reports whether goroutines of this provider wait for key.
func (lq *localQueues) queued(key string) bool { return lq.count(key) > 0 }

// isHead reports whether w is first in key's queue.
func (lq *localQueues) isHead(key string, w *localWaiter) bool {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	q := lq.m[key]
	return q != nil && q.ws[0] == w
}

// wakeHead wakes the first waiter for key, if any.
func (lq *localQueues) wakeHead(key string) {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	if q := lq.m[key]; q != nil {
		signal(q.ws[0].wake)
	}
}

// leave takes w out of key's queue (a second leave does nothing). When w was
// the head, the next waiter becomes the head: promoted if w got the lock,
// woken if it did not.
func (lq *localQueues) leave(key string, w *localWaiter, acquired bool) {
	lq.mu.Lock()
	q := lq.m[key]
	i := -1
	if q != nil {
		i = slices.Index(q.ws, w)
	}
	if i < 0 {
		lq.mu.Unlock()
		return
	}
	q.ws = slices.Delete(q.ws, i, i+1)
	empty := len(q.ws) == 0
	switch {
	case empty:
		delete(lq.m, key)
	case i == 0 && acquired:
		signal(q.ws[0].promoted)
	case i == 0:
		signal(q.ws[0].wake)
	}
	lq.mu.Unlock()
	if empty {
		lq.queuePool.Put(q)
	}
	// Nobody signals w any more: drop what it did not take, and reuse it.
	drain(w.wake)
	drain(w.promoted)
	w.parked, w.claimed = false, false
	lq.waiterPool.Put(w)
}

// park marks w as waiting for a signal; unpark ends that and reports
// whether a Release claimed w meanwhile, in which case w must take the
// handoff that Release sends.
func (lq *localQueues) park(w *localWaiter) {
	lq.mu.Lock()
	w.parked = true
	lq.mu.Unlock()
}

func (lq *localQueues) unpark(w *localWaiter) (claimed bool) {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	w.parked = false
	claimed, w.claimed = w.claimed, false
	return claimed
}

// claimHead returns key's head when it is parked and can be handed a lock,
// claimed: the caller must then send it exactly one handoff (handOn).
func (lq *localQueues) claimHead(key string) *localWaiter {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	q := lq.m[key]
	if q == nil {
		return nil
	}
	w := q.ws[0]
	if !w.parked || w.claimed || w.owner == "" {
		return nil
	}
	w.claimed = true
	return w
}

// handOn sends a claimed waiter the outcome of the Release that claimed it.
func (lq *localQueues) handOn(w *localWaiter, h handoff) { w.handoff <- h }

// signal leaves a token on c unless one is already there.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// drain takes c's token, if any.
func drain(c chan struct{}) {
	select {
	case <-c:
	default:
	}
}
