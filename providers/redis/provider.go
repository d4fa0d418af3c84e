package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/lockvalue"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/wait"
)

// UniversalClient is go-redis's client interface (standalone, cluster or
// Sentinel). Put one in the mediator's container with mediator.Provide and
// register [WithRedisDistributedLockingFromDI] to have the provider use it.
type UniversalClient = goredis.UniversalClient

// Provider is a [locking.Provider] on Redis: its locks exclude every process
// and machine that uses the same Redis and key prefix. Build one with [New],
// or register it with [WithRedisDistributedLocking] and its siblings.
//
// Each lock is a lease of Options.TTL that a goroutine of the handle extends
// every Options.RefreshInterval until Release; a handle whose lease can no
// longer be vouched for closes its Lost channel. Each grant carries a
// fencing token drawn from a per-key counter in the same atomic step.
//
// Goroutines that want a key queue in arrival order and only the first of
// them talks to Redis. It is woken by the release (announced on a per-key
// channel through one shared subscription per provider), or handed the lock
// by a Release of the same provider, with jittered backoff retries as a
// fallback. Many goroutines' calls share pipelines (see batcher).
type Provider struct {
	client Client
	s      base.Settings
	ttlArg any // the TTL in ms, boxed once for the scripts
	// fenceTTLArg is TTL + FenceRetention in ms, boxed once: how long a
	// fence counter outlives its grant.
	fenceTTLArg any
	self        string // owner prefix unique to this provider: "<random hex>:"
	seq         atomic.Uint64
	waiters     *wait.Waiters     // the subscription to release announcements
	local       *wait.LocalQueues // this provider's goroutines that want a key
	batch       *batcher          // sends many goroutines' acquisitions and releases together

	// giveBacks free what a failed call may have left in Redis: the grant
	// of an acquisition whose reply was lost, a release Redis did not
	// confirm (see base.GiveBacks); Close stops them.
	giveBacks *base.GiveBacks
	// eviction checks the server's maxmemory-policy (see base.EvictionCheck).
	eviction *base.EvictionCheck

	closeOnce sync.Once
	closed    atomic.Bool // set by Close: TryAcquire answers ErrClosed

	// hookBeforeWait, set only by tests, runs between a failed first attempt
	// and the subscription: the window a release must not slip through.
	hookBeforeWait func()
}

var _ locking.Provider = (*Provider)(nil)

// New returns a provider on client (see [Client]; a [UniversalClient]
// qualifies). opts may be nil. The provider does not close client; Close the
// provider to stop its subscription.
func New(client Client, opts *Options) (*Provider, error) {
	return newProvider(client, opts, nil)
}

// newProvider is New with the eviction check of the client's OnConnect
// hook, when the provider created the client, so that both warn only once.
func newProvider(client Client, opts *Options, eviction *base.EvictionCheck) (*Provider, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", base.ErrInvalidOptions)
	}
	s, err := base.SettingsOf(opts)
	if err != nil {
		return nil, err
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("redis: owner id: %w", err)
	}
	self := hex.EncodeToString(id[:]) + ":"
	if eviction == nil {
		eviction = base.NewEvictionCheck(s, -1)
	}
	return &Provider{
		client:      client,
		s:           s,
		ttlArg:      strconv.FormatInt(s.TTL.Milliseconds(), 10),
		fenceTTLArg: strconv.FormatInt(s.FenceTTL.Milliseconds(), 10),
		self:        self,
		waiters:     wait.NewWaiters(client, self, s.ReleaseTimeout),
		local:       wait.NewLocalQueues(),
		batch:       newBatcher(client),
		giveBacks:   base.NewGiveBacks(context.Background(), s.ReleaseTimeout, client),
		eviction:    eviction,
	}, nil
}

// TTL returns the lease length.
func (p *Provider) TTL() time.Duration { return p.s.TTL }

// KeyPrefix returns the prefix of the provider's storage keys.
func (p *Provider) KeyPrefix() string { return p.s.KeyPrefix }

// StorageKeys returns the Redis key of key's lock and of its fencing counter,
// for operators and tests. The lock key holds the owner's value while the
// lock is held; the counter holds the last token issued and expires TTL +
// Options.FenceRetention after the grant that made it.
func (p *Provider) StorageKeys(key string) (lock, fence string) {
	k := base.NewKeys(p.s.KeyPrefix, key)
	return k.Lock, k.Fence
}

// Waiters returns how many goroutines of this provider wait for key.
func (p *Provider) Waiters(key string) int {
	return p.local.Count(key)
}

// Ping checks that Redis answers within the dial timeout; a failure matches
// errors.Is(err, locking.ErrUnavailable) and wraps the cause.
func (p *Provider) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.s.DialTimeout)
	defer cancel()
	if err := p.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w: %w", locking.ErrUnavailable, err)
	}
	return nil
}

// CheckEvictionPolicy asks Redis for its maxmemory-policy (CONFIG GET,
// bounded by Options.DialTimeout) and returns an [*EvictionPolicyError]
// (ErrEvictionPolicy) when it may evict keys that have a TTL and
// Options.AllowKeyEviction is not set. A server that refuses CONFIG GET
// is accepted with a warning to Options.Logger; one that cannot be reached
// is left to Ping to report. Build runs it.
func (p *Provider) CheckEvictionPolicy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.s.DialTimeout)
	defer cancel()
	return p.eviction.Check(ctx, p.client)
}

// Close stops the provider's subscription and the background give-backs
// (of grants whose reply was lost and of releases Redis did not confirm)
// after their try in flight, each bounded by Options.ReleaseTimeout, and
// waits for them. It neither releases held locks (their leases run out, or
// their Release still works while the client is open) nor closes the
// client. Close is idempotent.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.waiters.Close()
		p.giveBacks.Close()
	})
	return nil
}

// TryAcquire takes the lock on key, waiting up to timeout; timeout <= 0 makes
// one attempt. See [locking.Provider] for the outcomes: a Handle; a
// *locking.Error (ErrNotAcquired) when the key stayed taken; a
// *locking.UnavailableError (ErrUnavailable, wrapping the cause) when Redis
// failed or did not answer in time; ctx's error when ctx ended first.
//
// Every Redis call of the acquisition is bounded by its deadline (start +
// timeout, or ctx's deadline when that comes first), so a server that stops
// answering costs no more than the timeout; a single try (timeout <= 0) is
// bounded by Options.DialTimeout. A call whose answer was lost (cut short,
// a reset connection, an error) may still have been carried out by Redis:
// what it may have been granted is given back at once, in the background,
// and retried until Redis answers or the grant's lease would have ended.
//
// Callers with a timeout queue for key in arrival order, and only the first
// of them talks to Redis; the others wait in the process, with no timer of
// their own, until the ones before them are served or give up (first come,
// first served within a provider). Across processes, whoever asks first
// after a release wins.
func (p *Provider) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redis: acquiring %q: %w", key, err)
	}
	if p.closed.Load() {
		return nil, &locking.UnavailableError{Key: key, Err: base.ErrClosed}
	}
	start := time.Now()
	r := p.newRequest(ctx, key)
	if timeout <= 0 {
		h, _, err := p.attempt(ctx, r, start.Add(p.s.DialTimeout))
		if h != nil || err != nil {
			return h, err
		}
		return nil, r.contended(max(timeout, 0))
	}
	deadline := start.Add(timeout)
	place, head := p.local.Join(key, r.owner)
	if head {
		h, rem, err := p.attempt(ctx, r, deadline)
		if h != nil || err != nil {
			p.local.Leave(key, place, h != nil)
			return h, err
		}
		if p.hookBeforeWait != nil {
			p.hookBeforeWait()
		}
		return p.wait(ctx, r, place, true, timeout, deadline, rem)
	}
	return p.wait(ctx, r, place, false, timeout, deadline, 0)
}

// request is what one acquisition sends Redis: its names, its owner value
// and the scripts' arguments, built once (a grant's handle keeps it for the
// release) so that the calls allocate no argument lists of their own.
type request struct {
	key string // the caller's key
	k   base.Keys
	// owner is the client's part of the lock's value: the owner id and the
	// holder record (see package lockvalue), which the scripts compare as a
	// prefix of the stored value.
	owner       string
	scriptKeys  [2]string // lock, fence
	acquireArgs [4]any    // owner, TTL, fence TTL, clock
	releaseArgs [2]any    // owner, channel
	// holder is the holder's value in the last answer "taken"; "" when
	// none came.
	holder string
}

// newRequest prepares an acquisition of key, by the locking.Acquirer of
// ctx when it has one.
func (p *Provider) newRequest(ctx context.Context, key string) *request {
	r := &request{key: key, k: base.NewKeys(p.s.KeyPrefix, key)}
	a, _ := locking.AcquirerFromContext(ctx)
	r.owner = lockvalue.Client(p.self, p.seq.Add(1), p.s.Instance, a)
	r.scriptKeys = [2]string{r.k.Lock, r.k.Fence}
	owner := any(r.owner) // boxed once for both scripts
	r.acquireArgs = [4]any{owner, p.ttlArg, p.fenceTTLArg, base.NowArg}
	r.releaseArgs = [2]any{owner, r.k.Channel}
	return r
}

// contended is the error of the acquisition when the key stayed taken for
// timeout: a *locking.Error that, when Redis named the holder, also
// matches *locking.HeldError.
func (r *request) contended(timeout time.Duration) error {
	return lockvalue.Contended(r.key, timeout, r.holder)
}

// attempt runs the acquire script once, cut short at deadline. It returns a
// handle, or the remaining lease of the current holder (0 if unknown, and
// r.holder its value), or an error: ctx's when ctx ended, a
// *locking.UnavailableError when Redis failed or did not answer by deadline.
func (p *Provider) attempt(ctx context.Context, r *request, deadline time.Time) (locking.Handle, time.Duration, error) {
	key, k, owner := r.key, r.k, r.owner
	start := time.Now()
	cctx := &attemptContext{Context: ctx, deadline: deadline}
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		cctx.deadline = d
	}
	reply, err := p.batch.do(cctx, base.AcquireScript, r.scriptKeys[:], r.acquireArgs[:]...)
	cut := err != nil && !time.Now().Before(cctx.deadline)
	var n int64
	if err == nil {
		n, r.holder, err = base.AcquireReply(reply)
	}
	if err != nil {
		if base.MayHaveRun(err) {
			// The script may have run, or may still run, although its
			// answer never came: give back what we may hold.
			p.forgetLater(key, k, owner, start)
		}
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("redis: acquiring %q: %w", key, ctx.Err())
		}
		if errors.Is(err, goredis.ErrClosed) {
			// The client closed under a call that raced with Close.
			err = base.ErrClosed
		}
		if cut {
			err = fmt.Errorf("redis: no answer before the acquisition's deadline: %w", err)
		}
		return nil, 0, &locking.UnavailableError{Key: key, Err: err}
	}
	switch {
	case n >= 1:
		return p.newHandle(r, uint64(n), start, false), 0, nil
	case n == -1:
		return nil, 0, nil
	default:
		return nil, time.Duration(-2-n) * time.Millisecond, nil
	}
}

// attemptContext is the context of one acquire call: ctx's values and
// cancellation, and the deadline of the attempt (ctx's own when earlier).
// Like a release's context it has no timer of its own, which
// context.WithDeadline would start and stop on every call: go-redis bounds
// the call by the deadline through socket deadlines (clients with
// ContextTimeoutEnabled, as the registrations create), waiting for a pooled
// connection is bounded by the client's PoolTimeout, and a call that has to
// queue in the batcher arms a timer for its wait there.
type attemptContext struct {
	context.Context
	deadline time.Time
}

func (c *attemptContext) Deadline() (time.Time, bool) { return c.deadline, true }

// forgetLater gives back, in the background, the grant that an acquisition
// sent at start may have received without hearing of it: an owner-compare
// delete, retried until Redis answers or that grant's lease would have
// ended. Close stops it.
func (p *Provider) forgetLater(key string, k base.Keys, owner string, start time.Time) {
	p.releaseLater(key, k, owner, start.Add(p.s.TTL+p.s.DriftMargin()))
}

// releaseLater deletes k's lock if owner still holds it, in the background,
// retried until Redis answers or until (when the lease would have ended
// anyway); an answer wakes the head of the local queue, which may have
// been skipped while the key looked taken.
func (p *Provider) releaseLater(key string, k base.Keys, owner string, until time.Time) {
	p.giveBacks.Run(0, until, func(ctx context.Context, c Client) error {
		if err := base.ReleaseScript.Run(ctx, c, []string{k.Lock}, owner, k.Channel).Err(); err != nil {
			return err
		}
		p.local.WakeHead(key)
		return nil
	})
}
