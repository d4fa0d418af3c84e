package memory

import (
	"time"

	"github.com/turbomediator/turbomediator-go/internal/grant"
)

// waiter is one caller blocked in TryAcquire. The caller's goroutine is the
// only one that waits on it; the releasing goroutine sends the grant.
type waiter struct {
	// token is the fencing token of the grant, set by the releaser before it
	// signals grant.
	token uint64
	// grant is signalled by the releaser, exactly once per granted wait. It
	// has room for one value, so the send never blocks.
	grant chan struct{}
	// timer bounds the wait; reused across waits through the provider's pool.
	timer *time.Timer
	// who is the caller's identity, recorded as the holder when the key is
	// handed to it.
	who grant.Identity
	// prev, next and queued are guarded by the shard's mutex. queued is true
	// from push until the waiter is granted or gives up.
	prev, next *waiter
	queued     bool
}

// lockedPush appends w to the queue. The caller holds the shard's mutex.
func (st *keyState) lockedPush(w *waiter) {
	w.prev, w.next = st.tail, nil
	if st.tail != nil {
		st.tail.next = w
	} else {
		st.head = w
	}
	st.tail = w
	w.queued = true
	st.waiting++
}

// lockedRemove takes w out of the queue wherever it is. The caller holds the
// shard's mutex and has checked w.queued.
func (st *keyState) lockedRemove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		st.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		st.tail = w.prev
	}
	w.prev, w.next = nil, nil
	w.queued = false
	st.waiting--
}

// lockedPop removes and returns the first waiter, or nil. The caller holds
// the shard's mutex.
func (st *keyState) lockedPop() *waiter {
	w := st.head
	if w != nil {
		st.lockedRemove(w)
	}
	return w
}
