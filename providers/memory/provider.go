package memory

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// Provider is an in-process [locking.Provider]: exclusive locks on string
// keys, with a FIFO queue of waiters per key. It is safe for use by many
// goroutines. The zero value is ready to use with the default options; [New]
// takes options.
type Provider struct {
	once   sync.Once
	seed   maphash.Seed
	mask   uint64
	shards []shard
	// closed is set by Close, and done closed with it: TryAcquire refuses,
	// and the callers already waiting give up, with locking.ErrClosed.
	closed    atomic.Bool
	done      chan struct{}
	closeOnce sync.Once
	// tokens issues the fencing token of every grant, of every key. It is
	// written on every grant, so it gets a cache line of its own: the fields
	// above are read on every call and must not bounce between cores with it.
	_      [64]byte
	tokens atomic.Uint64
	_      [56]byte
	// waiters recycles waiters with their channel and timer.
	waiters sync.Pool
	// queued, when set (by tests only), is called after a waiter has joined a
	// key's queue.
	queued func(key string)
	// givingUp, when set (by tests only), is called when a waiter's timeout
	// or context has ended, before it checks whether it was granted anyway.
	givingUp func(key string)
}

// New returns a Provider configured by opts.
func New(opts ...Option) *Provider {
	c := defaultConfig()
	for _, o := range opts {
		o.apply(&c)
	}
	p := new(Provider)
	p.once.Do(func() { p.setup(c) })
	return p
}

func (p *Provider) setup(c config) {
	n := roundShards(c.shards)
	p.seed = maphash.MakeSeed()
	p.mask = uint64(n - 1)
	p.shards = make([]shard, n)
	p.done = make(chan struct{})
	for i := range p.shards {
		p.shards[i].tokens = &p.tokens
	}
}

func (p *Provider) setupDefault() { p.setup(defaultConfig()) }

func (p *Provider) shardFor(key string) *shard {
	p.once.Do(p.setupDefault)
	if p.mask == 0 {
		return &p.shards[0]
	}
	return &p.shards[maphash.String(p.seed, key)&p.mask]
}

// TryAcquire takes the lock on key, waiting up to timeout behind the callers
// that came first. A timeout of 0 or less means one attempt that never waits.
//
// When the key stays taken it returns a *[locking.Error] (matching
// [locking.ErrNotAcquired]) with key and timeout; when ctx ends first, an
// error wrapping ctx's error (and its cause, if different). Either way the
// caller holds nothing and has left the queue. The in-memory provider never
// fails otherwise.
func (p *Provider) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	if ctx.Err() != nil {
		return nil, contextError(ctx, key)
	}
	sh := p.shardFor(key)
	if p.closed.Load() {
		return nil, closedError(key)
	}
	sh.mu.Lock()
	st, held := sh.keys[key]
	if !held {
		st = sh.lockedNewState(key)
		token := sh.tokens.Add(1)
		sh.mu.Unlock()
		// Allocated once the key is ours: if the allocation has to help the
		// garbage collector, the others queue up meanwhile instead of
		// overtaking a caller that has not queued yet.
		return &handle{key: key, token: token, shard: sh, state: st}, nil
	}
	if timeout <= 0 {
		sh.mu.Unlock()
		return nil, &locking.Error{Key: key, Timeout: timeout}
	}
	w := p.getWaiter()
	st.lockedPush(w)
	sh.mu.Unlock()
	if p.queued != nil {
		p.queued(key)
	}
	return p.wait(ctx, key, sh, st, w, timeout)
}

// wait blocks the caller until w is granted, timeout runs out or ctx ends.
func (p *Provider) wait(ctx context.Context, key string, sh *shard, st *keyState, w *waiter, timeout time.Duration) (locking.Handle, error) {
	if w.timer == nil {
		w.timer = time.NewTimer(timeout)
	} else {
		w.timer.Reset(timeout)
	}
	cancelled, closed := false, false
	select {
	case <-w.grant:
		token := w.token
		p.putWaiter(w)
		return &handle{key: key, token: token, shard: sh, state: st}, nil
	case <-ctx.Done():
		cancelled = true
	case <-p.done:
		closed = true
	case <-w.timer.C:
	}
	if p.givingUp != nil {
		p.givingUp(key)
	}
	sh.mu.Lock()
	if w.queued {
		// Not granted: leave the queue. st stays, because someone holds the
		// key (a key's state lives exactly as long as it is held).
		st.lockedRemove(w)
		sh.mu.Unlock()
		p.putWaiter(w)
		switch {
		case cancelled:
			return nil, contextError(ctx, key)
		case closed:
			return nil, closedError(key)
		}
		return nil, &locking.Error{Key: key, Timeout: timeout}
	}
	sh.mu.Unlock()
	// The releaser granted w just before we took the mutex: the signal is in
	// the channel or about to be. A grant is never dropped: on a timeout at
	// that instant the caller keeps the lock it got; a cancelled caller passes
	// it on.
	<-w.grant
	h := &handle{key: key, token: w.token, shard: sh, state: st}
	p.putWaiter(w)
	if cancelled || closed {
		_ = h.Release(context.Background())
		if closed {
			return nil, closedError(key)
		}
		return nil, contextError(ctx, key)
	}
	return h, nil
}

func (p *Provider) getWaiter() *waiter {
	if w, _ := p.waiters.Get().(*waiter); w != nil {
		return w
	}
	return &waiter{grant: make(chan struct{}, 1)}
}

// putWaiter recycles w once its wait is over: its grant channel is empty and
// its timer stopped with no pending tick.
func (p *Provider) putWaiter(w *waiter) {
	if !w.timer.Stop() {
		// Before Go 1.23 timer semantics a fired timer keeps its tick
		// buffered; drop it so the next wait does not see it.
		select {
		case <-w.timer.C:
		default:
		}
	}
	p.waiters.Put(w)
}

// Len returns the number of keys the provider keeps state for: those held
// (with or without waiters). It is 0 when nothing is locked.
func (p *Provider) Len() int {
	p.once.Do(p.setupDefault)
	n := 0
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.Lock()
		n += len(sh.keys)
		sh.mu.Unlock()
	}
	return n
}

// Waiters returns the number of callers waiting in key's queue.
func (p *Provider) Waiters(key string) int {
	sh := p.shardFor(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if st := sh.keys[key]; st != nil {
		return st.waiting
	}
	return 0
}
