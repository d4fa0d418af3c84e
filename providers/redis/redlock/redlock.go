package redlock

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/lockvalue"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/wait"
)

// Provider is a [locking.Provider] on several independent Redis masters (the
// Redlock algorithm): a lock is held when a majority of the nodes, N/2+1,
// granted it within the validity window, so it survives the loss of a
// minority of them. Build one with [New], or register it with
// [WithRedlockDistributedLocking] (or redis.WithRedisDistributedLocking with
// Options.Nodes or a "redlock://" address).
//
// An acquisition asks every node at once and returns as soon as a majority
// granted (a slow or stopped node does not hold it up beyond
// Options.NodeTimeout). A grant is vouched for until TTL minus a clock drift
// allowance (1% of TTL + 2ms) after its request was sent; if the majority
// came too late, or did not come, whatever was granted is given back at
// once. A goroutine of the handle extends the lease on every node each
// Options.RefreshInterval; an extension needs a majority that held the key
// without a gap, and the handle's Lost channel closes when there is none
// before the lease runs out. Release deletes the lock everywhere.
//
// The fencing token is the largest of the per-node counters drawn by the
// granting majority; nodes of that majority whose counter was lower are
// raised to it before the lock is handed out, so that a majority stores the
// token and any later majority, which must meet one of those nodes, draws a
// larger one. docs/reliability.md says what this does and does not promise.
//
// A provider's goroutines waiting for a key queue in first-come order, and a
// release wakes the first of them only: at once for a Release of the same
// provider; across processes through the release's announcement on the
// key's channel, which every node makes and any node's reaches the waiting
// provider (one subscription connection per node, shared by the provider's
// waiters, as the single-node redis.Provider does); and when a give-back of
// this provider deletes a grant that may have refused the first waiter (a
// failed attempt's late grant), whose announcement the provider ignores as
// its own. A newcomer queues behind the provider's waiters instead of
// barging in. Jittered backoff retries remain the fallback (a holder that
// died, a node that is down), never later than the moment the current
// holder's lease runs out.
//
// Goroutines: every call to the nodes (acquire, extend, release, ping) runs
// on one worker goroutine per node, each call ended by that node's answer,
// the call's deadline or Close, whichever comes first. Workers are reused
// from call to call, end after 5s without work, and Close ends them and
// waits. A handle's extensions run on a timer, so a held lock costs no
// goroutine between them. Each node's subscription has a receive goroutine
// while goroutines wait; Close ends them.
type Provider struct {
	nodes  []Client
	quorum int
	s      redlockSettings
	ttlArg string // the TTL in ms, formatted once for the scripts
	// fenceTTLArg is TTL + FenceRetention in ms: how long a fence counter
	// outlives the grant or raise that wrote it.
	fenceTTLArg string
	self        string // owner prefix unique to this provider: "<random hex>:"
	seq         atomic.Uint64
	local       *wait.LocalQueues // this provider's goroutines waiting for a key
	subs        []*wait.Waiters   // per node: the subscription to release announcements

	// base ends the node calls still in flight when the provider closes.
	base   context.Context
	cancel context.CancelFunc
	// mu orders the start of node calls (calls.Add) before Close's Wait.
	mu     sync.Mutex
	closed bool
	calls  sync.WaitGroup // node calls in flight, started by fanOut

	tasks   chan func()    // node calls handed to idle workers (see spawn)
	workers sync.WaitGroup // worker goroutines, started by spawn

	// shut is closed, readable without mu: TryAcquire answers ErrClosed.
	shut atomic.Bool
	// giveBacks delete, node by node, what a failed call may have left:
	// the grant of an attempt whose reply was lost, a release a node did
	// not confirm (see base.GiveBacks); Close stops them.
	giveBacks *base.GiveBacks
	// eviction checks each node's maxmemory-policy (see base.EvictionCheck).
	eviction []*base.EvictionCheck
}

var _ locking.Provider = (*Provider)(nil)

// New returns a provider that takes each lock on a majority of nodes,
// which must be independent Redis masters (not replicas of each other, not
// one cluster). opts may be nil; Options.Addr and Options.Nodes are ignored
// here. The provider does not close the clients; Close the provider to end
// the calls it still has in flight.
//
// Each node call is bounded by a context deadline, which a go-redis client
// honours only when built with ContextTimeoutEnabled; the clients that
// [WithRedlockDistributedLocking] creates are.
func New(nodes []Client, opts *Options) (*Provider, error) {
	return newProvider(nodes, opts, nil)
}

// newProvider is New with the eviction checks of the clients'
// OnConnect hooks, when the provider created the clients.
func newProvider(nodes []Client, opts *Options, eviction []*base.EvictionCheck) (*Provider, error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: Redlock needs at least one node", base.ErrInvalidOptions)
	}
	for i, c := range nodes {
		if c == nil {
			return nil, fmt.Errorf("%w: Redlock node %d is a nil client", base.ErrInvalidOptions, i)
		}
	}
	s, err := settingsOf(opts)
	if err != nil {
		return nil, err
	}
	var id [8]byte
	if _, err := crand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("redis: owner id: %w", err)
	}
	self := hex.EncodeToString(id[:]) + ":"
	subs := make([]*wait.Waiters, len(nodes))
	for i, c := range nodes {
		subs[i] = wait.NewWaiters(c, self, s.ReleaseTimeout)
	}
	if eviction == nil {
		eviction = make([]*base.EvictionCheck, len(nodes))
		for i := range nodes {
			eviction[i] = base.NewEvictionCheck(s.Settings, i)
		}
	}
	root, cancel := context.WithCancel(context.Background())
	return &Provider{
		nodes:       append([]Client(nil), nodes...),
		quorum:      len(nodes)/2 + 1,
		s:           s,
		ttlArg:      strconv.FormatInt(s.TTL.Milliseconds(), 10),
		fenceTTLArg: strconv.FormatInt(s.FenceTTL.Milliseconds(), 10),
		self:        self,
		local:       wait.NewLocalQueues(),
		subs:        subs,
		base:        root,
		cancel:      cancel,
		tasks:       make(chan func()),

		giveBacks: base.NewGiveBacks(root, s.ReleaseTimeout, nodes...),
		eviction:  eviction,
	}, nil
}

// Nodes returns the number of nodes.
func (r *Provider) Nodes() int { return len(r.nodes) }

// Quorum returns how many nodes must grant or extend a lock: N/2+1.
func (r *Provider) Quorum() int { return r.quorum }

// TTL returns the lease length.
func (r *Provider) TTL() time.Duration { return r.s.TTL }

// Validity returns how long after its request a grant or an extension is
// vouched for: TTL minus the clock drift allowance.
func (r *Provider) Validity() time.Duration { return r.s.TTL - r.s.drift }

// KeyPrefix returns the prefix of the provider's storage keys.
func (r *Provider) KeyPrefix() string { return r.s.KeyPrefix }

// StorageKeys returns the Redis key of key's lock and of its fencing
// counter, the same on every node.
func (r *Provider) StorageKeys(key string) (lock, fence string) {
	k := base.NewKeys(r.s.KeyPrefix, key)
	return k.Lock, k.Fence
}

// Waiters returns how many goroutines of this provider wait for key.
func (r *Provider) Waiters(key string) int {
	return r.local.Count(key)
}

// Ping checks that a majority of the nodes answer within the dial timeout;
// a failure matches errors.Is(err, locking.ErrUnavailable) and wraps the
// causes.
func (r *Provider) Ping(ctx context.Context) error {
	replies, asked := r.fanOut(time.Now().Add(r.s.DialTimeout), nil, nil, func(ctx context.Context, c Client) (int64, error) {
		return 1, c.Ping(ctx).Err()
	})
	ok := 0
	var errs []error
	gather(replies, asked, time.Now().Add(r.s.DialTimeout), ctx.Done(), func(rp reply) bool {
		if rp.err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", rp.node, rp.err))
		} else {
			ok++
		}
		return ok >= r.quorum
	})
	if ok >= r.quorum {
		return nil
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return fmt.Errorf("redis: redlock ping: %d of %d nodes answered, %d needed: %w: %w",
		ok, len(r.nodes), r.quorum, locking.ErrUnavailable, errors.Join(errs...))
}

// CheckEvictionPolicy asks every node for its maxmemory-policy (CONFIG
// GET, bounded by Options.DialTimeout) and returns an
// [*EvictionPolicyError] (ErrEvictionPolicy) for each node that may evict
// keys that have a TTL, unless Options.AllowKeyEviction is set. A node that
// refuses CONFIG GET is accepted with a warning to Options.Logger; one that
// cannot be reached is left to Ping to report. Build runs it.
func (r *Provider) CheckEvictionPolicy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.s.DialTimeout)
	defer cancel()
	errs := make([]error, len(r.nodes))
	var wg sync.WaitGroup
	for i, c := range r.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.eviction[i].Check(ctx, c)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close ends the node calls still in flight, the subscriptions and the
// background give-backs (after their try in flight), and waits for them.
// It neither releases held locks (their leases run out, and their
// extensions now fail) nor closes the clients. Close is idempotent.
func (r *Provider) Close() error {
	r.shut.Store(true)
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	for _, ws := range r.subs {
		ws.Close()
	}
	r.giveBacks.Close()
	r.calls.Wait()
	r.workers.Wait()
	return nil
}

// TryAcquire takes the lock on key on a majority of the nodes, waiting up to
// timeout; timeout <= 0 makes one attempt. See [locking.Provider] for the
// outcomes: a Handle; a *locking.Error (ErrNotAcquired) when no majority
// could be had because other owners hold the key; a
// *locking.UnavailableError (ErrUnavailable, wrapping the causes) when fewer
// than a majority of the nodes answered; ctx's error when ctx ended first.
//
// Each attempt waits for the nodes up to Options.NodeTimeout and never past
// the acquisition's deadline (start + timeout, or ctx's deadline), so nodes
// that stop answering cost no more than the timeout.
func (r *Provider) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redis: acquiring %q: %w", key, err)
	}
	if r.shut.Load() {
		return nil, &locking.UnavailableError{Key: key, Err: base.ErrClosed}
	}
	k := base.NewKeys(r.s.KeyPrefix, key)
	if timeout <= 0 {
		h, _, holder, err := r.attempt(ctx, key, k, time.Time{}, nil)
		switch {
		case err != nil:
			return nil, err
		case h == nil:
			return nil, lockvalue.Contended(key, max(timeout, 0), holder)
		}
		return h, nil
	}
	deadline := time.Now().Add(timeout)
	timeoutTimer := time.NewTimer(timeout)
	defer timeoutTimer.Stop()
	var retry interface{ NextBackoff() time.Duration }
	backoff := time.NewTimer(time.Hour)
	backoff.Stop()
	defer backoff.Stop()
	// Every caller queues first, in arrival order; only the head talks to
	// the nodes. The others wait, with no timer of their own, until they
	// are the head.
	place, head := r.local.Join(key, "") // never handed a lock: no owner
	var (
		joined   *redlockJoin // in the nodes' queues: their announcements
		acquired bool
		hint     time.Duration // the holder's remaining lease, from the last refusal
		holder   string        // the holder's value, from the last refusal
	)
	defer func() {
		if joined != nil {
			r.leave(joined, acquired)
		}
		r.local.Leave(key, place, acquired)
	}()
	try := head
	for {
		if try {
			h, rem, held, err := r.attempt(ctx, key, k, deadline, place)
			if err != nil {
				if joined != nil && ctx.Err() == nil && !time.Now().Before(deadline) && errors.Is(err, locking.ErrUnavailable) {
					// The nodes refused before; answers that the timeout
					// itself cut off say nothing more: contention, not an
					// outage.
					return nil, lockvalue.Contended(key, timeout, holder)
				}
				return nil, err // not a nil *redlockHandle in a non-nil Handle
			}
			if h != nil {
				acquired = true
				return h, nil
			}
			hint = rem
			if held != "" {
				holder = held
			}
		}
		if joined == nil {
			// From now on the nodes' announcements wake the head of the
			// local queue. Once the subscriptions are confirmed a release
			// cannot slip by unseen; a head tries again at once, in case
			// one came before.
			joined = r.join(ctx, k.Channel, deadline, func() { r.local.WakeHead(key) })
			if stop := r.waitOver(ctx, key, timeout, deadline, holder); stop != nil {
				return nil, stop
			}
			if head {
				try = true
				continue
			}
		}
		if head {
			if retry == nil {
				retry = r.s.NewRetry()
			}
			if d := base.NextWait(retry, hint); d > 0 {
				backoff.Reset(min(d, time.Until(deadline)+time.Millisecond))
			}
		}
		var stop error
		try = true
		select {
		case <-ctx.Done():
			stop = fmt.Errorf("redis: acquiring %q: %w", key, ctx.Err())
		case <-timeoutTimer.C:
			stop = lockvalue.Contended(key, timeout, holder)
		case <-r.base.Done():
			stop = &locking.UnavailableError{Key: key, Err: base.ErrClosed}
		case <-place.Wake:
			head = true // only the head is woken
		case <-place.Promoted:
			// The head before us got the lock: wait for its release,
			// with the fallback retries armed from now on.
			head, try, hint = true, false, 0
		case <-backoff.C:
		}
		backoff.Stop()
		if stop == nil {
			// A wake-up that came with the timeout must not start an
			// attempt that the deadline would cut at once.
			stop = r.waitOver(ctx, key, timeout, deadline, holder)
		}
		if stop != nil {
			return nil, stop
		}
	}
}

// waitOver returns the error that ends a wait for key: ctx's when it ended,
// a *locking.Error once deadline has passed (naming the holder, whose value
// the last refusal reported, as a *locking.HeldError too), a
// *locking.UnavailableError when the provider closed; nil while the wait
// goes on.
func (r *Provider) waitOver(ctx context.Context, key string, timeout time.Duration, deadline time.Time, holder string) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("redis: acquiring %q: %w", key, ctx.Err())
	case !time.Now().Before(deadline):
		return lockvalue.Contended(key, timeout, holder)
	case r.base.Err() != nil:
		return &locking.UnavailableError{Key: key, Err: base.ErrClosed}
	}
	return nil
}

// attempt asks every node for key once, waiting for their answers up to
// Options.NodeTimeout and never past deadline (the acquisition's; zero for
// none). It returns a handle; or, when other owners keep a majority out of
// reach, nil, the shortest remaining lease they reported (0 if none) and
// the holder's value most of the refusing nodes reported ("" if none); or
// an error when too few nodes answered in time or ctx ended. Whatever a
// failed attempt was granted it gives back before returning. place is the
// caller's place in the local queue (nil for a single attempt), which
// records the attempt's number before the nodes are asked (see
// wait.LocalQueues.WakeHeadTriedAfter).
func (r *Provider) attempt(ctx context.Context, key string, k base.Keys, deadline time.Time, place *wait.LocalWaiter) (*redlockHandle, time.Duration, string, error) {
	l := r.newLease(ctx, key, k)
	if place != nil {
		place.Trying(l.seq)
	}
	start := time.Now()
	validUntil := start.Add(r.s.TTL - r.s.drift)
	callsEnd := start.Add(r.s.nodeTimeout)
	if !deadline.IsZero() {
		callsEnd = base.Earliest(callsEnd, deadline)
	}
	replies, asked := r.fanOut(callsEnd, l, grantedReply, l.acquireOn)

	n := len(r.nodes)
	counters := make([]int64, n) // > 0: the node granted, drawing this counter
	var ambiguous []int          // nodes whose call failed after it may have run
	var granted, refused, failed int
	var errs []error
	var hint time.Duration
	var holders []string // the values the refusing nodes reported
	complete := gather(replies, asked, callsEnd, ctx.Done(), func(rp reply) bool {
		switch {
		case rp.err != nil:
			failed++
			errs = append(errs, fmt.Errorf("node %d: %w", rp.node, rp.err))
			if base.MayHaveRun(rp.err) {
				ambiguous = append(ambiguous, rp.node)
			}
		case rp.n >= 1:
			granted++
			counters[rp.node] = rp.n
		default:
			refused++
			if rp.holder != "" {
				holders = append(holders, rp.holder)
			}
			if rp.n <= -2 {
				rem := time.Duration(-2-rp.n) * time.Millisecond
				if hint == 0 || rem < hint {
					hint = rem
				}
			}
		}
		// Stop once the outcome is settled: a majority granted, refusals
		// alone rule one out (contention), or failures alone do (an
		// outage). A mix of the two waits for the other answers, which
		// decide between them: stopping there would report an outage as
		// contention.
		return granted >= r.quorum || refused > n-r.quorum || failed > n-r.quorum
	})
	if !complete {
		// A node that did not answer by the deadline counts as down; what
		// its call may yet leave there it deletes itself once the lease is
		// given back (see fanOutTo).
		if ctx.Err() != nil {
			l.giveBack(replies, counters, ambiguous)
			return nil, 0, "", fmt.Errorf("redis: acquiring %q: %w", key, ctx.Err())
		}
		if silent := n - granted - refused - failed; silent > 0 {
			errs = append(errs, fmt.Errorf("%d nodes did not answer in time", silent))
		}
		failed = n - granted - refused
	}
	if granted < r.quorum {
		l.giveBack(replies, counters, ambiguous)
		if failed > n-r.quorum {
			return nil, 0, "", &locking.UnavailableError{Key: key, Err: fmt.Errorf(
				"redis: redlock: %d of %d nodes answered, %d needed: %w", n-failed, n, r.quorum, errors.Join(errs...))}
		}
		return nil, hint, lockvalue.MostHeld(holders), nil
	}
	token, err := l.agreeOnToken(counters, validUntil)
	if err != nil || token == 0 || !time.Now().Before(validUntil) {
		l.giveBack(replies, counters, ambiguous)
		if err != nil {
			return nil, 0, "", &locking.UnavailableError{Key: key, Err: err}
		}
		return nil, 0, "", nil
	}
	return r.newRedlockHandle(l, uint64(token), start, validUntil), 0, "", nil
}

// agreeOnToken returns the largest counter the granting nodes drew, after
// making sure that a majority of nodes store at least that much while the
// lease holds the key there: nodes that drew less are raised. It returns 0
// when the raise did not reach a majority because the lease was gone there,
// and an error when it failed for want of answers.
func (l *lease) agreeOnToken(counters []int64, validUntil time.Time) (int64, error) {
	var token int64
	for _, c := range counters {
		token = max(token, c)
	}
	stored := 0
	var low []int
	for i, c := range counters {
		switch {
		case c == token:
			stored++
		case c > 0:
			low = append(low, i)
		}
	}
	if stored >= l.r.quorum {
		return token, nil
	}
	tokenArg := strconv.FormatInt(token, 10)
	deadline := base.Earliest(validUntil, time.Now().Add(l.r.s.nodeTimeout))
	replies, asked := l.r.fanOutTo(low, deadline, nil, nil, func(ctx context.Context, c Client) (int64, error) {
		return redlockRaiseScript.Run(ctx, c, l.scriptKeys, l.owner, tokenArg, l.r.fenceTTLArg).Int64()
	})
	var errs []error
	gather(replies, asked, deadline, nil, func(rp reply) bool {
		switch {
		case rp.err != nil:
			errs = append(errs, fmt.Errorf("node %d: raising the fencing counter: %w", rp.node, rp.err))
		case rp.n == 1:
			stored++
		}
		return stored >= l.r.quorum
	})
	switch {
	case stored >= l.r.quorum:
		return token, nil
	case len(errs) > 0:
		return 0, fmt.Errorf("redis: redlock: the fencing token reached %d of %d nodes, %d needed: %w", stored, len(counters), l.r.quorum, errors.Join(errs...))
	}
	return 0, nil
}

// newLease starts one attempt's lease with an owner value of its own, so a
// late grant of a failed attempt can never pass for a later one. The value
// records the locking.Acquirer of ctx (see package lockvalue).
func (r *Provider) newLease(ctx context.Context, key string, k base.Keys) *lease {
	keys := []string{k.Lock, k.Fence}
	a, _ := locking.AcquirerFromContext(ctx)
	seq := r.seq.Add(1)
	owner := lockvalue.Client(r.self, seq, r.s.Instance, a)
	return &lease{
		r:          r,
		key:        key,
		k:          k,
		seq:        seq,
		owner:      owner,
		scriptKeys: keys,
		lockKey:    keys[:1],
		// Boxed once here, not once per node call.
		acquireArgs: []any{owner, r.ttlArg, r.fenceTTLArg, base.NowArg},
	}
}
