package mediatortest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// ErrInjected is the cause of the unavailability [LockProvider.FailNext]
// injects when it is given no error of its own.
var ErrInjected = errors.New("mediatortest: injected lock provider failure")

// Outcome is what one acquisition of a [LockProvider] came to.
type Outcome uint8

const (
	// Granted: the lock was granted.
	Granted Outcome = iota + 1
	// Contended: the lock was refused as taken (really, or by ContendNext).
	Contended
	// Failed: the provider reported itself unavailable (FailNext), or the
	// caller's context ended.
	Failed
)

// String returns "granted", "contended" or "failed".
func (o Outcome) String() string {
	switch o {
	case Granted:
		return "granted"
	case Contended:
		return "contended"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Acquisition is one TryAcquire seen by a [LockProvider].
type Acquisition struct {
	Key     string
	Timeout time.Duration
	Outcome Outcome
	Err     error
}

type fault uint8

const (
	contend fault = iota + 1
	fail
	lose
)

type rule struct {
	key   string // "" matches any key
	fault fault
	err   error
}

// LockProvider is a [locking.Provider] for tests. It grants locks with real
// exclusion, as the in-memory provider does, and injects a fault into a
// chosen acquisition on demand. Faults are queued: each ContendNext,
// FailNext or LoseNext applies to one later acquisition of its key (of any
// key for ""), the first queued first. It is safe for concurrent use; the
// zero value is not ready, use [NewLockProvider].
type LockProvider struct {
	inner *memory.Provider

	mu           sync.Mutex
	rules        []rule
	held         map[string]*handle
	acquisitions []Acquisition
}

// NewLockProvider returns a LockProvider with no fault queued.
func NewLockProvider() *LockProvider {
	return &LockProvider{inner: memory.New(), held: make(map[string]*handle)}
}

// Option registers p as the mediator's lock provider.
func (p *LockProvider) Option() mediator.Option {
	return locking.WithDistributedLockProvider[*LockProvider](func() *LockProvider { return p })
}

// ContendNext makes the next acquisition of key ("" any key) report
// contention at once — a *locking.Error matching locking.ErrNotAcquired —
// as if another instance held the lock for the whole timeout.
func (p *LockProvider) ContendNext(key string) { p.add(rule{key: key, fault: contend}) }

// FailNext makes the next acquisition of key ("" any key) fail as if the
// provider's server were unreachable: the error matches
// locking.ErrUnavailable and err (or [ErrInjected] when err is nil).
func (p *LockProvider) FailNext(key string, err error) {
	if err == nil {
		err = ErrInjected
	}
	p.add(rule{key: key, fault: fail, err: err})
}

// LoseNext makes the next grant of key ("" any key) a lock that is lost as
// soon as it is granted: the handler runs, its context is cancelled with
// cause locking.ErrLockLost, and Send reports ErrLockLost. A handler that
// must see the loss at a precise point calls [LockProvider.Lose] instead.
func (p *LockProvider) LoseNext(key string) { p.add(rule{key: key, fault: lose}) }

// Lose loses the lock currently held on key (the final key,
// "WithdrawCommand:42"): the provider stops vouching for it, so the
// handler's context is cancelled with cause locking.ErrLockLost. It
// reports whether key was held. Call it from inside the handler under test,
// then wait on ctx.Done().
func (p *LockProvider) Lose(key string) bool {
	p.mu.Lock()
	h := p.held[key]
	p.mu.Unlock()
	if h == nil {
		return false
	}
	h.lose()
	return true
}

// Held returns the keys held now, sorted.
func (p *LockProvider) Held() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, 0, len(p.held))
	for k := range p.held {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Acquisitions returns every TryAcquire seen so far, in order.
func (p *LockProvider) Acquisitions() []Acquisition {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.acquisitions)
}

func (p *LockProvider) add(r rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
}

// take removes and returns the first queued rule matching key.
func (p *LockProvider) take(key string, match func(fault) bool) (rule, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range p.rules {
		if (r.key == "" || r.key == key) && match(r.fault) {
			p.rules = slices.Delete(p.rules, i, i+1)
			return r, true
		}
	}
	return rule{}, false
}

func (p *LockProvider) record(a Acquisition) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acquisitions = append(p.acquisitions, a)
}

// TryAcquire applies the first queued contention or failure for key, if
// any; otherwise it waits for key as the in-memory provider does, and a
// grant takes the first queued loss for key, if any.
func (p *LockProvider) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	if r, ok := p.take(key, func(f fault) bool { return f == contend || f == fail }); ok {
		var err error
		out := Contended
		if r.fault == contend {
			err = &locking.Error{Key: key, Timeout: timeout}
		} else {
			err, out = &locking.UnavailableError{Key: key, Err: r.err}, Failed
		}
		p.record(Acquisition{Key: key, Timeout: timeout, Outcome: out, Err: err})
		return nil, err
	}
	inner, err := p.inner.TryAcquire(ctx, key, timeout)
	if err != nil {
		out := Failed
		if errors.Is(err, locking.ErrNotAcquired) {
			out = Contended
		}
		p.record(Acquisition{Key: key, Timeout: timeout, Outcome: out, Err: err})
		return nil, err
	}
	h := &handle{Handle: inner, p: p, lost: make(chan struct{})}
	p.mu.Lock()
	p.held[key] = h
	p.mu.Unlock()
	p.record(Acquisition{Key: key, Timeout: timeout, Outcome: Granted})
	if _, ok := p.take(key, func(f fault) bool { return f == lose }); ok {
		h.lose()
	}
	return h, nil
}

// handle wraps the in-memory handle with a Lost channel the test controls.
type handle struct {
	locking.Handle
	p        *LockProvider
	lost     chan struct{}
	loseOnce sync.Once
}

// Lost is closed by Lose or LoseNext (the in-memory lock underneath is
// never lost on its own).
func (h *handle) Lost() <-chan struct{} { return h.lost }

func (h *handle) lose() { h.loseOnce.Do(func() { close(h.lost) }) }

// Release forgets the key as held and releases the inner handle.
func (h *handle) Release(ctx context.Context) error {
	h.p.mu.Lock()
	if h.p.held[h.Key()] == h {
		delete(h.p.held, h.Key())
	}
	h.p.mu.Unlock()
	return h.Handle.Release(ctx)
}
