package memory

import (
	"sync"
	"time"
	"unsafe"

	"github.com/turbomediator/turbomediator-go/internal/grant"
)

// shard is one independently locked part of the key map, with the fencing
// token counter of its keys. It fills whole cache lines, so that two
// goroutines working in neighbouring shards never write to one line.
type shard struct {
	shardState
	_ [cacheLine - unsafe.Sizeof(shardState{})%cacheLine]byte
}

// cacheLine is a multiple of the cache line size of common CPUs, and of the
// pair of lines that x86 prefetchers fetch together.
const cacheLine = 128

// shardState is a shard's data. Every field but p and maxFree is guarded by
// mu.
type shardState struct {
	p    *Provider // set once by setup
	mu   sync.Mutex
	keys table
	// free keeps a few keyStates for reuse, linked through next, so locking a
	// fresh key does not allocate one.
	free  *keyState
	nfree int
	// maxFree bounds free; set once by setup (see freeStates).
	maxFree int
	// tokens is the last fencing token granted for a key of this shard. A key
	// always hashes to the same shard, so its tokens grow with every grant;
	// a counter per shard, written under the mutex the grant takes anyway,
	// keeps goroutines on distinct keys from bouncing one counter's cache
	// line between cores.
	tokens uint64
}

// keyState exists exactly while its key is held: it is created by the grant
// to a free key and deleted by the release that finds no waiter. The waiters
// are a doubly linked FIFO list.
type keyState struct {
	shard *shard
	// key and hash are the key held and its hash (see Provider.hash).
	key  string
	hash uint64
	// token, since and who describe the current holder: its fencing token,
	// the clock() of its grant (0 when the provider did not read the clock:
	// see Provider.Inspect) and its identity. Set at every grant.
	token      uint64
	since      time.Duration
	who        grant.Identity
	head, tail *waiter
	waiting    int
	next       *keyState // free-list link while unused
	// owner is st itself as the grants' Releaser, set once: a grant points
	// to it (see grant.Owner).
	owner grant.Owner
}

// freeStates bounds the key states all shards of a provider keep for reuse
// together: each shard keeps freeStates/shards of them, and at least
// minFree. With the default shards that is 2 states a shard, 2,048 in all
// (about 300 KB at most, however many keys were ever locked); a shard that
// holds a key or two at a time, the common case with many shards, needs no
// more to reuse every state.
const (
	freeStates = 2048
	minFree    = 2
)

// maxFreePerShard is each shard's reuse bound for n shards.
func maxFreePerShard(n int) int { return max(minFree, freeStates/n) }

// lockedNextToken draws the next fencing token. The caller holds mu.
func (s *shard) lockedNextToken() uint64 {
	s.tokens++
	return s.tokens
}

// lockedNewState returns a keyState for key, whose hash is h, stored in the
// table. The caller holds mu and has checked that key has none.
func (s *shard) lockedNewState(key string, h uint64) *keyState {
	st := s.free
	if st != nil {
		s.free = st.next
		st.next = nil
		s.nfree--
	} else {
		st = &keyState{shard: s}
		st.owner = grant.NewOwner(st)
	}
	st.key, st.hash = key, h
	s.keys.insert(st)
	return st
}

// lockedDeleteState forgets st's key once nobody holds or waits for it. The
// caller holds mu.
func (s *shard) lockedDeleteState(st *keyState) {
	s.keys.remove(st)
	st.key = "" // the key's bytes may be a finished Send's scope
	// st.who stays: a few small strings, kept by at most maxFree states a
	// shard, which the next grant of st most often finds equal (the same
	// message type, no trace), so it need not write them again.
	if s.nfree < s.maxFree {
		st.next = s.free
		s.free = st
		s.nfree++
	}
}

// lockedGranted records the holder of a grant: its token, the clock() of
// the grant and who asked. The caller holds the shard's mutex.
func (st *keyState) lockedGranted(token uint64, who *grant.Identity, now time.Duration) {
	st.token, st.since = token, now
	// Field by field, and only what changed: a plain struct copy would
	// copy all three strings with the collector's barriers on every grant.
	if st.who.MessageType != who.MessageType {
		st.who.MessageType = who.MessageType
	}
	if st.who.TraceID != who.TraceID {
		st.who.TraceID = who.TraceID
	}
	if st.who.SpanID != who.SpanID {
		st.who.SpanID = who.SpanID
	}
}
