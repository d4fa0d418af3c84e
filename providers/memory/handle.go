package memory

import (
	"context"
	"sync/atomic"
)

// handle is one grant of a key. A new handle is made for every grant, so a
// stale handle (already released) can never free a later holder's lock.
type handle struct {
	key   string
	token uint64
	shard *shard
	// state is the key's state, which lives while this handle holds it.
	state    *keyState
	released atomic.Bool
}

// Key returns the key the lock was taken on.
func (h *handle) Key() string { return h.key }

// Token returns the fencing token of this grant.
func (h *handle) Token() uint64 { return h.token }

// Lost returns nil: an in-process lock cannot be lost, so there is nothing to
// watch.
func (h *handle) Lost() <-chan struct{} { return nil }

// Release frees the lock, handing it to the first waiter if there is one.
// Only the first call does that; later calls, from any goroutine, return nil
// and do nothing. It never blocks, so ctx is not consulted.
func (h *handle) Release(context.Context) error {
	if h.released.CompareAndSwap(false, true) {
		h.shard.release(h)
	}
	return nil
}

// release passes h's key to the next waiter, or forgets the key when nobody
// waits. The waiter leaves the queue under the mutex, so a waiter that gives
// up at the same moment either is still queued (and removes itself) or has
// been granted (and waits for the signal, which is on its way).
func (s *shard) release(h *handle) {
	s.mu.Lock()
	st := h.state
	if w := st.lockedPop(); w != nil {
		w.token = s.tokens.Add(1)
		s.mu.Unlock()
		// Sent after unlocking, to keep the critical section short. It never
		// blocks (one grant per wait, room for one), and the waiter cannot
		// be recycled before it has received it.
		w.grant <- struct{}{}
		return
	}
	s.lockedDeleteState(h.key, st)
	s.mu.Unlock()
}
