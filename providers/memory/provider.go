package memory

import (
	"context"
	"errors"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/internal/grant"
)

// Provider is an in-process [locking.Provider]: exclusive locks on string
// keys, with a FIFO queue of waiters per key. It is safe for use by many
// goroutines. The zero value is ready to use with the default options; [New]
// takes options.
type Provider struct {
	once sync.Once
	// instance is the Holder.Instance of every grant (WithInstance).
	instance string
	seed     maphash.Seed
	shift    uint8 // 64 - log2(len(shards)): the hash's top bits pick the shard
	shards   []shard
	// closed is set by Close, and done closed with it: TryAcquire refuses,
	// and the callers already waiting give up, with locking.ErrClosed.
	closed atomic.Bool
	done   chan struct{}
	// timed is set by the first Inspect: from then on every grant reads
	// the clock for its holder's Since.
	timed     atomic.Bool
	closeOnce sync.Once
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
	p.instance = c.instance
	if p.instance == "" {
		p.instance = locking.DefaultInstance()
	}
	p.seed = maphash.MakeSeed()
	p.shift = uint8(64 - bits.TrailingZeros(uint(n)))
	p.shards = make([]shard, n)
	for i := range p.shards {
		p.shards[i].p = p
		p.shards[i].maxFree = maxFreePerShard(n)
	}
	p.done = make(chan struct{})
}

func (p *Provider) setupDefault() { p.setup(defaultConfig()) }

// hash returns key's hash and its shard. The top bits of the hash pick the
// shard and the bottom bits the slot in the shard's table, so the keys of one
// shard still spread over its table.
func (p *Provider) hash(key string) (uint64, *shard) {
	p.once.Do(p.setupDefault)
	h := maphash.String(p.seed, key)
	// A shift by 64 (one shard) gives 0.
	return h, &p.shards[h>>p.shift]
}

// TryAcquire takes the lock on key, waiting up to timeout behind the callers
// that came first. A timeout of 0 or less means one attempt that never waits.
//
// When the key stays taken it returns a *[locking.Error] (matching
// [locking.ErrNotAcquired]) with key and timeout; when ctx ends first, an
// error wrapping ctx's error (and its cause, if different). Either way the
// caller holds nothing and has left the queue. The in-memory provider never
// fails otherwise.
//
// The [locking.Acquirer] in ctx, if any (see [locking.ContextWithAcquirer]),
// is recorded as the holder, which [Provider.Inspect] reports; a caller that
// gives up on a held key gets an error that is also a *[locking.HeldError]
// naming the holder.
func (p *Provider) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	var id grant.Identity
	if a, ok := locking.AcquirerFromContext(ctx); ok {
		id = grant.Identity{MessageType: a.MessageType, TraceID: a.TraceID, SpanID: a.SpanID}
	}
	g, err := p.acquire(ctx, key, timeout, nil, id)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// errNoGrant is TryAcquireGrant's answer to a nil grant.
var errNoGrant = errors.New("memory: TryAcquireGrant needs a grant to fill")

// TryAcquireGrant is [Provider.TryAcquire] filling g, which the caller
// provides zeroed, instead of allocating a handle: g is the handle, granted
// exactly when the error is nil. The locking behavior uses it to keep its
// per-Send state and the handle in one allocation, and passes the holder's
// identity as id rather than in ctx; applications call TryAcquire.
func (p *Provider) TryAcquireGrant(ctx context.Context, key string, timeout time.Duration, g *grant.Grant, id grant.Identity) error {
	if g == nil {
		return errNoGrant
	}
	_, err := p.acquire(ctx, key, timeout, g, id)
	return err
}

// acquire is TryAcquire into g, or into a new Grant when g is nil, for the
// holder id.
func (p *Provider) acquire(ctx context.Context, key string, timeout time.Duration, g *grant.Grant, id grant.Identity) (*grant.Grant, error) {
	if ctx.Err() != nil {
		return nil, contextError(ctx, key)
	}
	h, sh := p.hash(key)
	if p.closed.Load() {
		return nil, closedError(key)
	}
	// Read before the mutex, to keep the critical section short; a waiter's
	// grant time is read by the releaser that hands the key over. Only once
	// someone has called Inspect (see there): a clock read is a third of an
	// uncontended grant's cost.
	var now time.Duration
	if p.timed.Load() {
		now = clock()
	}
	sh.mu.Lock()
	st := sh.keys.find(h, key)
	if st == nil {
		st = sh.lockedNewState(key, h)
		token := sh.lockedNextToken()
		st.lockedGranted(token, &id, now)
		sh.mu.Unlock()
		// Allocated once the key is ours: if the allocation has to help the
		// garbage collector, the others queue up meanwhile instead of
		// overtaking a caller that has not queued yet.
		g = granted(g, key, token, st)
		g.SetAtOnce()
		return g, nil
	}
	if timeout <= 0 {
		err := p.lockedHeldError(st, key, timeout)
		sh.mu.Unlock()
		return nil, err
	}
	w := p.getWaiter()
	w.who = id
	st.lockedPush(w)
	sh.mu.Unlock()
	if p.queued != nil {
		p.queued(key)
	}
	return p.wait(ctx, key, sh, st, w, timeout, g)
}

// granted fills g (a new Grant when g is nil) with a grant of key.
func granted(g *grant.Grant, key string, token uint64, st *keyState) *grant.Grant {
	if g == nil {
		g = new(grant.Grant)
	}
	g.Set(key, token, &st.owner)
	return g
}

// wait blocks the caller until w is granted, timeout runs out or ctx ends.
func (p *Provider) wait(ctx context.Context, key string, sh *shard, st *keyState, w *waiter, timeout time.Duration, g *grant.Grant) (*grant.Grant, error) {
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
		return granted(g, key, token, st), nil
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
		var held error
		if !cancelled && !closed {
			held = p.lockedHeldError(st, key, timeout)
		}
		sh.mu.Unlock()
		p.putWaiter(w)
		switch {
		case cancelled:
			return nil, contextError(ctx, key)
		case closed:
			return nil, closedError(key)
		}
		return nil, held
	}
	sh.mu.Unlock()
	// The releaser granted w just before we took the mutex: the signal is in
	// the channel or about to be. A grant is never dropped: on a timeout at
	// that instant the caller keeps the lock it got; a cancelled caller passes
	// it on.
	<-w.grant
	token := w.token
	p.putWaiter(w)
	if cancelled || closed {
		sh.release(st)
		if closed {
			return nil, closedError(key)
		}
		return nil, contextError(ctx, key)
	}
	return granted(g, key, token, st), nil
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
	w.who = grant.Identity{}
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
		n += sh.keys.count
		sh.mu.Unlock()
	}
	return n
}

// Waiters returns the number of callers waiting in key's queue.
func (p *Provider) Waiters(key string) int {
	h, sh := p.hash(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if st := sh.keys.find(h, key); st != nil {
		return st.waiting
	}
	return 0
}
