package wait

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LocalQueues keep the goroutines of one provider (single node or Redlock)
// that want a key in arrival order, and let only the first of them, the
// head, talk to Redis: a TryAcquire with a timeout joins its key's queue
// before anything else, the head tries, and the others wait until they are
// the head. A release wakes the head only, whether it is this provider's
// own Release (which calls wakeHead) or another process's, announced on the
// key's channel (the subscription's notify calls wakeHead too), or a
// background give-back of this provider that deleted a grant the head may
// have been refused by (WakeHeadTriedAfter). A head that leaves with the
// lock promotes the next waiter, which then waits for that lock's release
// (with its fallback retries armed) without trying at once; a head that
// leaves without the lock wakes the next, so that a release it was woken
// for, or was about to be, is not lost with it. Waking one goroutine rather
// than all of them also keeps a Redlock provider's own goroutines from
// splitting the nodes' votes among themselves.
//
// A key's queue exists while somebody is in it, so a million keys locked
// one after the other leave nothing behind. Queues and waiters are reused
// from free lists kept under mu, up to freeMax of each (a sync.Pool would
// cost more than the lock already held): an acquisition that finds its key
// free allocates neither.
type LocalQueues struct {
	mu sync.Mutex
	m  map[string]*localQueue // by key; removed when empty

	freeQueues  []*localQueue  // empty
	freeWaiters []*LocalWaiter // with no signal pending

	// waiting counts the waiters of all queues, written under mu: a
	// release that finds it 0 has nobody to wake or claim and skips the
	// lock. One who joins after that tries the key after the release.
	waiting atomic.Int64
}

// freeMax bounds each free list of LocalQueues: what many goroutines
// waiting at once leave behind beyond it goes to the garbage collector.
const freeMax = 64

// localQueue is one key's waiters, head first.
type localQueue struct {
	ws []*LocalWaiter
}

// LocalWaiter is one TryAcquire's place in its key's local queue. Only the
// head is ever signalled.
type LocalWaiter struct {
	// wake receives a token when the head should try: a release, or a head
	// that gave up before it. Room for one: a wake-up that comes while it
	// tries is kept.
	Wake chan struct{}
	// promoted receives a token when the waiter became the head because the
	// head before it got the lock: it waits for that lock's release.
	Promoted chan struct{}
	// owner is the owner value the waiter asks Redis with; "" for a waiter
	// that can never be handed a lock (Redlock's).
	owner string
	// parked is set while the waiter waits for a signal (not trying);
	// claimed once a Release took it as the one to hand its lock to. A
	// claimed waiter takes exactly one Handoff. signalled is set once Wake
	// or Promoted was sent a token: a waiter never signalled (the head of
	// a free key) leaves without touching its channels. All three under
	// LocalQueues.mu.
	parked, claimed, signalled bool
	// Handoff receives the outcome of the Release that claimed the waiter.
	Handoff chan Handoff
	// tried is the number of the waiter's latest attempt (see Trying), 0
	// before its first. Written by the waiter's own goroutine, read under
	// LocalQueues.mu.
	tried atomic.Uint64
}

// Handoff is what a Release tells the waiter it claimed: the token of the
// lock it handed over, with the moment its request was sent (the lease
// counts from then), or a zero token when it freed the key instead.
type Handoff struct {
	Token     uint64
	Requested time.Time
}

// NewLocalQueues returns empty queues.
func NewLocalQueues() *LocalQueues {
	return &LocalQueues{m: make(map[string]*localQueue)}
}

// Join puts a waiter asking with owner at the tail of key's queue and
// reports whether it is the head. The caller must leave, and use w no more
// after that.
func (lq *LocalQueues) Join(key, owner string) (w *LocalWaiter, head bool) {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	if n := len(lq.freeWaiters); n > 0 {
		w = lq.freeWaiters[n-1]
		lq.freeWaiters[n-1] = nil
		lq.freeWaiters = lq.freeWaiters[:n-1]
	} else {
		// A herd arriving at once allocates outside the lock.
		lq.mu.Unlock()
		w = &LocalWaiter{Wake: make(chan struct{}, 1), Promoted: make(chan struct{}, 1), Handoff: make(chan Handoff, 1)}
		lq.mu.Lock()
	}
	w.owner = owner
	q := lq.m[key]
	if q == nil {
		if n := len(lq.freeQueues); n > 0 {
			q = lq.freeQueues[n-1]
			lq.freeQueues[n-1] = nil
			lq.freeQueues = lq.freeQueues[:n-1]
		} else {
			q = &localQueue{}
		}
		lq.m[key] = q
	}
	q.ws = append(q.ws, w)
	lq.waiting.Add(1)
	return w, len(q.ws) == 1
}

// Count returns how many goroutines of this provider are in key's queue.
func (lq *LocalQueues) Count(key string) int {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	if q := lq.m[key]; q != nil {
		return len(q.ws)
	}
	return 0
}

// Queued reports whether goroutines of this provider wait for key.
func (lq *LocalQueues) Queued(key string) bool { return lq.Count(key) > 0 }

// IsHead reports whether w is first in key's queue.
func (lq *LocalQueues) IsHead(key string, w *LocalWaiter) bool {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	q := lq.m[key]
	return q != nil && q.ws[0] == w
}

// WakeHead wakes the first waiter for key, if any.
func (lq *LocalQueues) WakeHead(key string) {
	if lq.waiting.Load() == 0 {
		return
	}
	lq.mu.Lock()
	defer lq.mu.Unlock()
	if q := lq.m[key]; q != nil {
		q.ws[0].signal(q.ws[0].Wake)
	}
}

// Trying records, before w asks Redis, the number of the attempt it makes:
// numbers grow with every attempt of the provider, on any key (a Redlock
// lease's sequence number). See WakeHeadTriedAfter.
func (w *LocalWaiter) Trying(n uint64) { w.tried.Store(n) }

// WakeHeadTriedAfter wakes the first waiter for key if it made an attempt
// numbered above n. A background give-back calls it once it deleted the
// grant of attempt n: the node's announcement of that deletion is the
// provider's own, which its subscription ignores, so a head refused by
// that grant would be woken by nobody. A head whose attempts all came
// before attempt n was never refused by its grant, and is not woken: the
// give-back of a failed attempt's late grant does not make its own head try
// again, which would go round for as long as another owner holds the key.
func (lq *LocalQueues) WakeHeadTriedAfter(key string, n uint64) {
	if lq.waiting.Load() == 0 {
		return
	}
	lq.mu.Lock()
	defer lq.mu.Unlock()
	if q := lq.m[key]; q != nil && q.ws[0].tried.Load() > n {
		q.ws[0].signal(q.ws[0].Wake)
	}
}

// Leave takes w out of key's queue (a second leave does nothing). When w was
// the head, the next waiter becomes the head: promoted if w got the lock,
// woken if it did not.
func (lq *LocalQueues) Leave(key string, w *LocalWaiter, acquired bool) {
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
	lq.waiting.Add(-1)
	switch {
	case len(q.ws) == 0:
		delete(lq.m, key)
		if len(lq.freeQueues) < freeMax {
			lq.freeQueues = append(lq.freeQueues, q)
		}
	case i == 0 && acquired:
		q.ws[0].signal(q.ws[0].Promoted)
	case i == 0:
		q.ws[0].signal(q.ws[0].Wake)
	}
	// Nobody signals w any more (signals go to waiters in a queue, under
	// mu): drop what it did not take, and reuse it.
	if w.signalled {
		drain(w.Wake)
		drain(w.Promoted)
	}
	w.owner = ""
	w.parked, w.claimed, w.signalled = false, false, false
	w.tried.Store(0)
	if len(lq.freeWaiters) < freeMax {
		lq.freeWaiters = append(lq.freeWaiters, w)
	}
	lq.mu.Unlock()
}

// Park marks w as waiting for a signal; unpark ends that and reports
// whether a Release claimed w meanwhile, in which case w must take the
// Handoff that Release sends.
func (lq *LocalQueues) Park(w *LocalWaiter) {
	lq.mu.Lock()
	w.parked = true
	lq.mu.Unlock()
}

// Unpark ends a Park; see Park.
func (lq *LocalQueues) Unpark(w *LocalWaiter) (claimed bool) {
	lq.mu.Lock()
	defer lq.mu.Unlock()
	w.parked = false
	claimed, w.claimed = w.claimed, false
	return claimed
}

// ClaimHead returns key's head when it is parked and can be handed a lock,
// claimed: the caller must then send it exactly one Handoff (handOn).
func (lq *LocalQueues) ClaimHead(key string) *LocalWaiter {
	if lq.waiting.Load() == 0 {
		return nil
	}
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

// HandOn sends a claimed waiter the outcome of the Release that claimed it.
func (lq *LocalQueues) HandOn(w *LocalWaiter, h Handoff) { w.Handoff <- h }

// signal leaves a token on c, w's Wake or Promoted, unless one is already
// there. Under LocalQueues.mu.
func (w *LocalWaiter) signal(c chan struct{}) {
	w.signalled = true
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

// Owner returns the owner value the waiter asks Redis with ("" for one that
// can never be handed a lock).
func (w *LocalWaiter) Owner() string { return w.owner }
