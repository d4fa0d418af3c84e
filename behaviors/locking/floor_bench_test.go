package locking_test

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// floorScope has the size class and pointer layout of the behavior's scope
// (160 bytes, a context first): what the one allocation of a memory-locked
// Send costs the allocator and the collector.
type floorScope struct {
	ctx    context.Context
	parent *floorScope
	refs   [4]*byte
	words  [13]uint64
}

var floorScopeSink *floorScope

// floorShard is one of floorLocks' shards on a line pair of its own, as the
// memory provider's shards are: a mutex, or a word taken by compare-and-swap.
type floorShard struct {
	mu    sync.Mutex
	word  atomic.Uint32
	token uint64 // drawn under the mutex at each grant, as the provider's
	held  int
	_     [100]byte
}

// floorLocks is the skeleton of an exclusive in-process lock per key: the
// key hashed once, its shard's mutex taken to grant it and again to release
// it, and the Send's scope allocated. It keeps no table and no state, so it
// excludes nothing: it is the work any design with one allocation and a
// sharded mutex cannot skip, done the cheapest way.
//
// With cas set, a grant is one compare-and-swap of the shard's word and a
// release one store: the fewest atomic writes any exclusive lock makes, where
// a mutex taken twice makes four.
type floorLocks struct {
	seed   maphash.Seed
	cas    bool
	shards [1024]floorShard
	a      benchAccounts
}

// enter is the skeleton's grant: the key hashed, the scope allocated and
// kept in *sink, the shard taken. exit is its release.
func (f *floorLocks) enter(ctx context.Context, key string, sink **floorScope) (*floorShard, *floorScope) {
	h := maphash.String(f.seed, "lock:"+key)
	sh := &f.shards[h&1023]
	s := &floorScope{ctx: ctx, parent: nil, refs: [4]*byte{}, words: [13]uint64{h}}
	*sink = s
	if f.cas {
		if !sh.word.CompareAndSwap(0, 1) {
			panic("floor: shard taken")
		}
		return sh, s
	}
	sh.mu.Lock()
	sh.token++
	sh.held++
	sh.mu.Unlock()
	return sh, s
}

func (f *floorLocks) exit(sh *floorShard) {
	if f.cas {
		sh.word.Store(0)
		return
	}
	sh.mu.Lock()
	sh.held--
	sh.mu.Unlock()
}

//go:noinline
func (f *floorLocks) Handle(ctx context.Context, c benchWithdraw) (benchBalance, error) {
	sh, s := f.enter(ctx, c.AccountID, &floorScopeSink)
	r, err := f.a.Handle(s.ctx, c)
	f.exit(sh)
	return r, err
}

// floorScaleLocks is floorLocks (mutex) around BenchmarkSendScaling's
// handler: the "floor" set-up there, how far the skeleton of a locked Send
// scales on two cores of the machine it runs on.
type floorScaleLocks struct {
	floorLocks
	a scaleAccounts
	// sinks keep each goroutine's last scope on a line of its own: one
	// pointer both wrote would be a line shared between the cores.
	sinks [scaleWorkers]struct {
		s *floorScope
		_ [120]byte
	}
}

//go:noinline
func (f *floorScaleLocks) Handle(ctx context.Context, c scaleWithdraw) (benchBalance, error) {
	sh, s := f.enter(ctx, c.AccountID, &f.sinks[c.Worker].s)
	r, err := f.a.Handle(s.ctx, c)
	f.exit(sh)
	return r, err
}

// BenchmarkSendFloor is a plain Send whose handler does, besides
// BenchmarkSendLockedMemory's handler's work, only the skeleton of a lock
// (floorLocks): mutex as the memory provider takes its shards, cas with the
// fewest atomic writes. Run beside BenchmarkSendLockedMemory, it shows how
// much of a locked Send no design with one allocation can take away on the
// machine it runs on; see docs/benchmarks.md.
func BenchmarkSendFloor(b *testing.B) {
	for _, v := range []struct {
		name string
		cas  bool
	}{{"mutex", false}, {"cas", true}} {
		b.Run(v.name, func(b *testing.B) {
			m := build(b, locking.WithoutLocking(),
				mediator.WithHandler[benchWithdraw, benchBalance](&floorLocks{seed: maphash.MakeSeed(), cas: v.cas}))
			benchSendLoop(b, m)
		})
	}
}
