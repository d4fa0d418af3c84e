package memory

import (
	"sync"
	"sync/atomic"
)

// shard is one independently locked part of the key map. Every field is
// guarded by mu.
type shard struct {
	mu   sync.Mutex
	keys map[string]*keyState
	// free keeps a few keyStates for reuse, linked through next, so locking a
	// fresh key does not allocate one.
	free  *keyState
	nfree int
	// peak is the largest len(keys) since the map was last made; Go maps
	// never shrink, so an emptied map that once grew large is replaced.
	peak int
	// tokens is the provider's one fencing-token counter.
	tokens *atomic.Uint64
	// pad keeps neighbouring shards' mutexes off one cache line.
	_ [64]byte
}

// keyState exists exactly while its key is held: it is created by the grant
// to a free key and deleted by the release that finds no waiter. The waiters
// are a doubly linked FIFO list.
type keyState struct {
	head, tail *waiter
	waiting    int
	next       *keyState // free-list link while unused
}

const (
	// maxFree bounds each shard's reuse list.
	maxFree = 32
	// shrinkPeak is the map size above which an emptied map is replaced:
	// small enough that a burst of keys leaves little behind, large enough
	// that a shard holding a handful of keys never remakes its map.
	shrinkPeak = 64
)

// lockedNewState returns a keyState for key, stored in the map. The caller
// holds mu and has checked that key has none.
func (s *shard) lockedNewState(key string) *keyState {
	st := s.free
	if st != nil {
		s.free = st.next
		st.next = nil
		s.nfree--
	} else {
		st = new(keyState)
	}
	if s.keys == nil {
		s.keys = make(map[string]*keyState)
	}
	s.keys[key] = st
	if n := len(s.keys); n > s.peak {
		s.peak = n
	}
	return st
}

// lockedDeleteState forgets key once nobody holds or waits for it. The caller
// holds mu.
func (s *shard) lockedDeleteState(key string, st *keyState) {
	delete(s.keys, key)
	if len(s.keys) == 0 && s.peak > shrinkPeak {
		s.keys = nil
		s.peak = 0
	}
	if s.nfree < maxFree {
		st.next = s.free
		s.free = st
		s.nfree++
	}
}
