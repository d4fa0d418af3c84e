package memory

import (
	"time"

	"github.com/turbomediator/turbomediator-go/internal/grant"
)

// A grant's handle is a *grant.Grant: a new one for every grant (or one the
// locking behavior keeps inside its scope), so a stale handle, released
// already, can never free a later holder's lock. Its Release calls the key
// state's ReleaseGrant every time; only the first frees the key.

// ReleaseGrant frees g's key, handing it to the first waiter if there is
// one, unless g was released before. The grant package calls it from every
// Release of g. g's released flag is read and set under the shard's mutex:
// every Release of g comes here, to st's shard (a key state never changes
// shard, even when it is reused for another key after g's release), so the
// mutex the release takes anyway orders them, and a stale g finds its flag
// set.
func (st *keyState) ReleaseGrant(g *grant.Grant) {
	s := st.shard
	s.mu.Lock()
	if !g.FirstRelease() {
		s.mu.Unlock()
		return
	}
	s.lockedRelease(st)
}

// release passes st's key to its next waiter, or forgets the key when nobody
// waits. The waiter leaves the queue under the mutex, so a waiter that gives
// up at the same moment either is still queued (and removes itself) or has
// been granted (and waits for the signal, which is on its way).
func (s *shard) release(st *keyState) {
	s.mu.Lock()
	s.lockedRelease(st)
}

// lockedRelease is release with the mutex held; it unlocks it.
func (s *shard) lockedRelease(st *keyState) {
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
