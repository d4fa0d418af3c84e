package memory

import (
	"time"

	"github.com/turbomediator/turbomediator-go/internal/grant"
)

// A grant's handle is a *grant.Grant: a new one for every grant (or one the
// locking behavior keeps inside its scope), so a stale handle, released
// already, can never free a later holder's lock. Its Release calls the key
// state's ReleaseGrant once.

// ReleaseGrant frees g's key, handing it to the first waiter if there is
// one. The grant package calls it from g's first Release.
func (st *keyState) ReleaseGrant(*grant.Grant) { st.shard.release(st) }

// release passes st's key to its next waiter, or forgets the key when nobody
// waits. The waiter leaves the queue under the mutex, so a waiter that gives
// up at the same moment either is still queued (and removes itself) or has
// been granted (and waits for the signal, which is on its way).
func (s *shard) release(st *keyState) {
	s.mu.Lock()
	if w := st.lockedPop(); w != nil {
		w.token = s.lockedNextToken()
		// Under the mutex, but only on a handover, which wakes a goroutine
		// anyway.
		var now time.Duration
		if s.p.timed.Load() {
			now = clock()
		}
		st.lockedGranted(w.token, &w.who, now)
		s.mu.Unlock()
		// Sent after unlocking, to keep the critical section short. It never
		// blocks (one grant per wait, room for one), and the waiter cannot
		// be recycled before it has received it.
		w.grant <- struct{}{}
		return
	}
	s.lockedDeleteState(st)
	s.mu.Unlock()
}
