package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// ErrClosed is the cause (inside a *locking.UnavailableError) of every
// TryAcquire after the provider's Close.
var ErrClosed = errors.New("etcd: provider closed")

// Provider is a [locking.Provider] on etcd: its locks exclude every process
// and machine that uses the same etcd cluster and key prefix. Build one with
// [New], or register it with [WithEtcdDistributedLocking] and its siblings.
//
// A lock on key is a queue of etcd keys under KeyPrefix + escaped key + "/",
// one per caller, each created in a transaction and attached to the
// provider's session lease. The caller whose key has the lowest create
// revision holds the lock; the others each watch the key just before their
// own and are served in creation order (first come, first served across
// processes). The fencing token is the holder's create revision: it grows
// with every grant, cluster-wide, and survives leader changes.
type Provider struct {
	client *clientv3.Client
	s      settings

	mu      sync.Mutex // guards sess, opening, closed, waiters, entries, watch, watched and handles' grant state
	sess    *session
	closed  bool
	waiters map[string]int
	lines   map[string]*line   // callers waiting for a key, see line.go
	entries map[string]*handle // queue entries of this provider, held or waiting
	opening *opening           // the session being opened, if one is

	// slots name the entries: an entry is <queue><lease>-<slot>, its slot
	// unique among the provider's live entries and reused once etcd
	// confirmed the entry's deletion (see track).
	freeSlots []uint32
	nextSlot  uint32

	// watch is the prefix watch (see watch.go) while it runs; watched counts
	// the held handles it is there for.
	watch   *prefixWatch
	watched int

	// watchCtx ends the prefix watch and the checks of held entries at
	// Close.
	watchCtx    context.Context
	watchCancel context.CancelFunc

	// wg counts the provider's goroutines: the session keep-alive, the
	// prefix watch while it runs, and a check of a held entry in flight.
	// Close waits for them.
	wg sync.WaitGroup
}

var _ locking.Provider = (*Provider)(nil)

// New returns a provider on client. opts may be nil; Options.Endpoints is
// ignored. The provider does not close client. Close the provider to revoke
// its session lease and stop its goroutines.
func New(client *clientv3.Client, opts *Options) (*Provider, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOptions)
	}
	s, err := opts.settings()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Provider{
		client:      client,
		s:           s,
		waiters:     map[string]int{},
		lines:       map[string]*line{},
		entries:     map[string]*handle{},
		watchCtx:    ctx,
		watchCancel: cancel,
	}, nil
}

// TTL returns the session lease.
func (p *Provider) TTL() time.Duration { return time.Duration(p.s.ttlSeconds) * time.Second }

// KeyPrefix returns the prefix of the provider's keys.
func (p *Provider) KeyPrefix() string { return p.s.keyPrefix }

// QueuePrefix returns the etcd prefix under which key's queue lives, for
// operators and tests: the holder's entry is the one with the lowest create
// revision.
func (p *Provider) QueuePrefix(key string) string {
	return p.s.keyPrefix + url.PathEscape(key) + "/"
}

// Waiters returns how many goroutines of this provider are waiting for key
// (in the provider's line or in etcd's queue, the lock not yet theirs).
func (p *Provider) Waiters(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiters[key]
}

// Ping checks, within the dial timeout, that etcd answers a linearizable
// read (which needs a quorum); a failure matches
// errors.Is(err, locking.ErrUnavailable) and wraps the cause.
func (p *Provider) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.s.dialTimeout)
	defer cancel()
	if _, err := p.client.Get(ctx, p.s.keyPrefix, clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("etcd: ping: %w: %w", locking.ErrUnavailable, err)
	}
	return nil
}

// Close revokes the session lease, which deletes every key of this
// provider — locks still held are freed and their Lost channels close —
// and waits for the provider's goroutines. It does not close the client.
// Close is idempotent; TryAcquire afterwards fails with [ErrClosed].
func (p *Provider) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	sess := p.sess
	p.sess = nil
	p.mu.Unlock()
	p.watchCancel()
	var err error
	if sess != nil {
		ctx, cancel := context.WithTimeout(context.Background(), p.s.releaseTimeout)
		if _, rerr := p.client.Revoke(ctx, sess.id); rerr != nil {
			err = fmt.Errorf("etcd: revoking the session lease (it expires within %s): %w", p.TTL(), rerr)
		}
		cancel()
		sess.abandon()
	}
	p.wg.Wait()
	return err
}

// session returns the current session, opening a new one when there is none
// or the last one was lost. One caller opens it (bounded by deadline, not by
// its ctx, since others may wait for it); the others wait for that opening,
// each up to its own ctx and deadline, so an unreachable etcd costs each
// caller its own bound, not the sum of everyone's.
func (p *Provider) session(ctx context.Context, deadline time.Time) (*session, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if p.sess != nil && !p.sess.isDone() {
		s := p.sess
		p.mu.Unlock()
		return s, nil
	}
	op := p.opening
	if op == nil {
		op = &opening{done: make(chan struct{})}
		p.opening = op
		p.mu.Unlock()
		s, err := p.openSession(context.WithoutCancel(ctx), deadline)
		p.mu.Lock()
		p.opening = nil
		if err == nil && p.closed {
			s.abandon()
			s, err = nil, ErrClosed
		}
		if err == nil {
			p.sess = s
		}
		op.s, op.err = s, err
		close(op.done)
		p.mu.Unlock()
		return s, err
	}
	p.mu.Unlock()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-op.done:
		return op.s, op.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timer.C:
		return nil, errors.New("etcd: timed out waiting for the session lease")
	}
}

// opening is a session being opened by one caller, waited for by others.
type opening struct {
	done chan struct{}
	s    *session
	err  error
}

// TryAcquire takes the lock on key, waiting up to timeout; timeout <= 0 makes
// one attempt. See [locking.Provider] for the outcomes: a Handle; a
// *locking.Error (ErrNotAcquired) when the key stayed taken; a
// *locking.UnavailableError (ErrUnavailable, wrapping the cause) when etcd
// did not answer — unreachable, or no quorum; ctx's error when ctx ended
// first.
//
// A single try is bounded by Options.DialTimeout. Each request of a wait is
// bounded by Options.RequestTimeout; when the timeout runs out the caller's
// queue entry is deleted before TryAcquire returns (bounded by
// Options.RequestTimeout too), and contention is reported only when etcd
// confirmed that deletion. A queue entry that could not be deleted goes with
// the session lease, which the provider then stops renewing: it never
// becomes an orphan grant.
//
// Callers of one provider for one key line up in the provider (first come,
// first served): only the first of the line has an entry in etcd's queue
// while it waits, and the next one enqueues in etcd as soon as it is
// granted. So etcd holds at most two entries per provider and key (the
// holder's and the next one's) however many goroutines wait, and a handoff
// costs the same with 2,000 waiters as with one. A single try does not line
// up (it does not wait): it asks etcd, so that it reports unavailability
// when etcd does not answer, never contention with a caller that is itself
// failing.
func (p *Provider) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("etcd: acquiring %q: %w", key, err)
	}
	start := time.Now()
	single := timeout <= 0
	deadline := start.Add(timeout)
	if single {
		deadline = start.Add(p.s.dialTimeout)
	}
	if single {
		return asHandle(p.acquireAsHead(ctx, key, timeout, single, deadline))
	}
	t := p.joinLine(key)
	if t != nil {
		p.addWaiter(key, 1)
		err := p.waitInLine(ctx, t, deadline)
		p.addWaiter(key, -1)
		if err != nil {
			if p.leaveLine(key, t) {
				p.passHead(key)
			}
			if errors.Is(err, errTimedOut) {
				return nil, &locking.Error{Key: key, Timeout: timeout}
			}
			return nil, fmt.Errorf("etcd: acquiring %q: %w", key, err)
		}
	}
	h, err := p.acquireAsHead(ctx, key, timeout, single, deadline)
	p.passHead(key)
	return asHandle(h, err)
}

// asHandle returns h as a locking.Handle, nil (not a nil *handle) on error.
func asHandle(h *handle, err error) (locking.Handle, error) {
	if err != nil {
		return nil, err
	}
	return h, nil
}

// acquireAsHead is TryAcquire for the first caller of the provider's line
// for key: it enqueues in etcd and waits there.
func (p *Provider) acquireAsHead(ctx context.Context, key string, timeout time.Duration, single bool, deadline time.Time) (*handle, error) {
	reqDeadline := time.Now().Add(p.s.requestTimeout)
	if single {
		reqDeadline = deadline
	}
	sess, err := p.session(ctx, reqDeadline)
	if err != nil {
		return nil, p.failure(ctx, key, err)
	}
	queue := p.QueuePrefix(key)
	h := p.track(key, queue, sess)

	rev, first, err := p.enqueue(ctx, sess, queue, h.entry, reqDeadline)
	if err != nil {
		p.untrack(h)
		// The entry may have been created although the answer never came.
		if ctx.Err() != nil {
			_ = p.giveBack(h)
		} else {
			// etcd did not answer in time: a delete would not either. The
			// entry, if it was created, goes with the lease.
			p.abandon(sess)
		}
		return nil, p.failure(ctx, key, err)
	}
	p.created(h, rev)
	if !first {
		if single {
			p.untrack(h)
			if err := p.giveBack(h); err != nil {
				return nil, &locking.UnavailableError{Key: key, Err: err}
			}
			return nil, &locking.Error{Key: key, Timeout: 0}
		}
		p.addWaiter(key, 1)
		err = p.waitTurn(ctx, sess, queue, rev, deadline)
		p.addWaiter(key, -1)
		if err != nil {
			p.untrack(h)
			if gerr := p.giveBack(h); gerr != nil && errors.Is(err, errTimedOut) {
				err = gerr // contention is reported only when etcd confirmed
			}
			if errors.Is(err, errTimedOut) {
				return nil, &locking.Error{Key: key, Timeout: timeout}
			}
			return nil, p.failure(ctx, key, err)
		}
	}
	p.grant(h)
	if sess.isDone() || h.lost.Fired() {
		p.untrack(h)
		_ = p.giveBack(h)
		return nil, &locking.UnavailableError{Key: key, Err: errors.New("etcd: the queue entry or its session lease was lost while waiting")}
	}
	return h, nil
}

// enqueue creates entry (in a transaction, attached to the session lease)
// and reads the queue's first entry in the same transaction. It returns the
// entry's create revision and whether it is first.
func (p *Provider) enqueue(ctx context.Context, sess *session, queue, entry string, deadline time.Time) (int64, bool, error) {
	tctx, cancel := untilDeadline(ctx, deadline)
	defer cancel()
	resp, err := p.client.Txn(tctx).
		If(clientv3.Compare(clientv3.CreateRevision(entry), "=", 0)).
		Then(
			clientv3.OpPut(entry, p.entryValueFor(ctx, time.Now()), clientv3.WithLease(sess.id)),
			clientv3.OpGet(queue, clientv3.WithFirstCreate()...),
		).Commit()
	if err != nil {
		return 0, false, fmt.Errorf("etcd: creating the queue entry: %w", err)
	}
	if !resp.Succeeded {
		return 0, false, fmt.Errorf("etcd: queue entry %q exists already", entry)
	}
	rev := resp.Header.Revision
	kvs := resp.Responses[1].GetResponseRange().Kvs
	return rev, len(kvs) > 0 && kvs[0].CreateRevision == rev, nil
}

// giveBack deletes h's entry, bounded by Options.RequestTimeout, on a
// context the caller's cancellation does not reach, and frees its name for
// reuse. When etcd cannot confirm the deletion it abandons the session, so
// the entry goes with the lease (and its name is not reused).
func (p *Provider) giveBack(h *handle) error {
	ctx, cancel := untilDeadline(context.Background(), time.Now().Add(p.s.requestTimeout))
	defer cancel()
	if _, err := p.client.Delete(ctx, h.entry); err != nil {
		p.abandon(h.sess)
		return fmt.Errorf("etcd: deleting the queue entry (it goes with the session lease): %w", err)
	}
	p.freeSlot(h)
	return nil
}

// abandon stops renewing sess and makes the next acquisition open a new
// session.
func (p *Provider) abandon(sess *session) {
	sess.abandon()
	p.mu.Lock()
	if p.sess == sess {
		p.sess = nil
	}
	p.mu.Unlock()
}

// failure turns err into what TryAcquire returns: ctx's error when ctx
// ended, otherwise a *locking.UnavailableError.
func (p *Provider) failure(ctx context.Context, key string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("etcd: acquiring %q: %w", key, cerr)
	}
	return &locking.UnavailableError{Key: key, Err: err}
}

func (p *Provider) addWaiter(key string, d int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := p.waiters[key] + d; n > 0 {
		p.waiters[key] = n
	} else {
		delete(p.waiters, key)
	}
}
