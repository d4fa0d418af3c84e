package redlock

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turbomediator/turbomediator-go/providers/redis/internal/base"
)

// reply is one node's answer to one call.
type reply struct {
	node int
	n    int64
	err  error
	// holder is the holder's lock value with which the node refused the
	// acquire script (see takenReply); "" otherwise.
	holder string
}

// takenReply is how acquireOn hands fanOutTo a refusal that names the
// holder: fanOutTo makes it the reply's n and holder, not an error.
type takenReply struct {
	n      int64
	holder string
}

func (t *takenReply) Error() string { return "redis: redlock: taken" }

// nodeCall runs one script (or command) on one node.
type nodeCall func(ctx context.Context, c Client) (int64, error)

// setsOwner tells whether a node's reply to a call means that the node now
// holds the lease's owner value where it may not have before.
type setsOwner func(n int64) bool

// grantedReply is setsOwner for the acquire script, retakenReply for the
// extend script.
func grantedReply(n int64) bool { return n >= 1 }
func retakenReply(n int64) bool { return n == 2 }

// fanOut runs call on every node; see fanOutTo.
func (r *Provider) fanOut(deadline time.Time, l *lease, sets setsOwner, call nodeCall) (<-chan reply, int) {
	return r.fanOutTo(nil, deadline, l, sets, call)
}

// fanOutTo runs call on the listed nodes (every node when which is nil) at
// once, each on a worker goroutine of its own (see spawn), and returns the
// channel their replies arrive on and how many were asked. The channel has
// room for every reply, so a call never waits for a caller that stopped
// listening: the caller reads only as many replies as it needs.
//
// The calls are counted in r.calls. Each ends by deadline, or when the
// provider closes; the last one to end cancels their shared context.
//
// With a lease l, a call that left the lease's owner on a node (sets says
// so: a late grant, say), or that failed in a way that may have left it
// there (a lost reply, a timeout), after the lease was given back deletes it
// there itself: whoever gave the lease back did not know about it.
func (r *Provider) fanOutTo(which []int, deadline time.Time, l *lease, sets setsOwner, call nodeCall) (<-chan reply, int) {
	asked := len(which)
	if which == nil {
		asked = len(r.nodes)
	}
	replies := make(chan reply, asked)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		for i := range asked {
			replies <- reply{node: nodeIndex(which, i), err: base.ErrClosed}
		}
		return replies, asked
	}
	r.calls.Add(asked)
	r.mu.Unlock()

	ctx, cancel := context.WithDeadline(r.base, deadline)
	if asked == 0 {
		cancel()
		return replies, 0
	}
	var left atomic.Int32
	left.Store(int32(asked))
	finished := func() {
		if left.Add(-1) == 0 {
			cancel()
		}
	}
	for i := range asked {
		node := nodeIndex(which, i)
		r.spawn(func() {
			defer r.calls.Done()
			n, err := call(ctx, r.nodes[node])
			rp := reply{node: node, n: n, err: err}
			if t, ok := err.(*takenReply); ok {
				rp.n, rp.holder, rp.err = t.n, t.holder, nil
			}
			if l != nil && sets != nil && (err == nil && sets(n) || base.MayHaveRun(err)) {
				l.deliverOrGiveBack(rp, replies)
			} else {
				replies <- rp
			}
			finished()
		})
	}
	return replies, asked
}

// workerIdle is how long an idle worker goroutine waits for the next node
// call before it ends.
const workerIdle = 5 * time.Second

// spawn runs task on an idle worker goroutine, or on a new one when none is
// idle. Workers are kept because a node call needs a deep stack: a fresh
// goroutine per call spends a good part of the call growing its stack.
// A worker ends after workerIdle without work, or when the provider closes;
// Close waits for all of them (r.workers).
func (r *Provider) spawn(task func()) {
	select {
	case r.tasks <- task:
		return
	default:
	}
	r.workers.Add(1)
	go r.work(task)
}

func (r *Provider) work(task func()) {
	defer r.workers.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		task()
		idle.Reset(workerIdle)
		select {
		case task = <-r.tasks:
		case <-idle.C:
			return
		case <-r.base.Done():
			return
		}
	}
}

func nodeIndex(which []int, i int) int {
	if which == nil {
		return i
	}
	return which[i]
}

// gather reads up to asked replies, handing each to each, until each says
// enough. It reports whether it stopped for that reason or because every
// node answered; false means that the deadline passed or done closed first.
func gather(replies <-chan reply, asked int, deadline time.Time, done <-chan struct{}, each func(reply) (enough bool)) bool {
	// A guard a little past the deadline: the calls themselves end by it.
	guard := time.NewTimer(time.Until(deadline) + 50*time.Millisecond)
	defer guard.Stop()
	for range asked {
		select {
		case rp := <-replies:
			if each(rp) {
				return true
			}
		case <-guard.C:
			return false
		case <-done:
			return false
		}
	}
	return true
}

// lease is one attempt at a lock under one owner value, and, when the
// attempt succeeds, the lock's lease on the nodes.
type lease struct {
	r     *Provider
	key   string
	k     base.Keys
	seq   uint64 // the attempt's number, part of owner: it grows with each attempt
	owner string

	// scriptKeys are the KEYS of the scripts that touch the lock and its
	// fencing counter; lockKey of those that touch only the lock.
	scriptKeys, lockKey []string
	// acquireArgs are the acquire script's ARGV, boxed once for all nodes.
	acquireArgs []any

	mu    sync.Mutex
	given bool // the lease was given back: late grants are deleted where they land
}

// acquireOn asks one node for the lock with the single-node acquire script.
// A refusal that names the holder comes as a *takenReply, which fanOutTo
// turns into the reply's n and holder.
func (l *lease) acquireOn(ctx context.Context, c Client) (int64, error) {
	v, err := base.AcquireScript.Run(ctx, c, l.scriptKeys, l.acquireArgs...).Result()
	if err != nil {
		return 0, err
	}
	n, holder, err := base.AcquireReply(v)
	if err == nil && holder != "" {
		return 0, &takenReply{n: n, holder: holder}
	}
	return n, err
}

// releaseOn deletes the lock on one node if the lease owns it there.
func (l *lease) releaseOn(ctx context.Context, c Client) (int64, error) {
	return base.ReleaseScript.Run(ctx, c, l.lockKey, l.owner, l.k.Channel).Int64()
}

// deliverOrGiveBack delivers a reply that left, or may have left, the owner
// on its node, unless the lease was given back meanwhile: then it deletes
// the lock there, in the background until the node answers (see
// giveBackOn). l.mu orders the delivery before giveBack drains the replies
// (or Release starts deleting), or the deletion after it.
func (l *lease) deliverOrGiveBack(rp reply, replies chan<- reply) {
	l.mu.Lock()
	if !l.given {
		replies <- rp
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.giveBackOn(rp.node, time.Now().Add(l.r.s.TTL))
}

// giveBackOn deletes the lock on node if the lease owns it there, on a
// goroutine of its own, retried until the node answers or until.
//
// A deletion wakes this provider's first waiter for the key if that waiter
// asked the nodes after the lease's attempt: its attempt may have been
// refused by this very grant (a late grant of an attempt that failed, or of
// a lock released before that grant landed), and the node's announcement
// of the deletion is the provider's own, which its subscription ignores.
// Without it, that waiter would sleep on a free key until its timeout or
// the lease's end.
func (l *lease) giveBackOn(node int, until time.Time) {
	l.r.giveBacks.Run(node, until, func(ctx context.Context, c Client) error {
		n, err := l.releaseOn(ctx, c)
		if err == nil && n == 1 {
			l.r.local.WakeHeadTriedAfter(l.key, l.seq)
		}
		return err
	})
}

// markGiven makes every later owner-setting reply delete what it set.
func (l *lease) markGiven() {
	l.mu.Lock()
	l.given = true
	l.mu.Unlock()
}

// giveBack marks the lease given back and deletes it on every node that
// granted it or may have: those in granted (counter > 0) or in ambiguous
// (their call failed after it may have run), and those whose replies are
// still unread in replies. It waits, up to the node timeout, for the nodes
// known to have granted, so that the caller's next attempt finds them free;
// the others, and those that did not answer, are retried in the background
// until they answer or the lease would have ended. Nodes whose calls end
// later delete it themselves (deliverOrGiveBack).
func (l *lease) giveBack(replies <-chan reply, counters []int64, ambiguous []int) {
	l.markGiven()
	var which []int
	for i, c := range counters {
		if c > 0 {
			which = append(which, i)
		}
	}
drain:
	for {
		select {
		case rp := <-replies:
			switch {
			case rp.err == nil && rp.n >= 1 && counters[rp.node] <= 0:
				which = append(which, rp.node)
			case base.MayHaveRun(rp.err):
				ambiguous = append(ambiguous, rp.node)
			}
		default:
			break drain
		}
	}
	until := time.Now().Add(l.r.s.TTL)
	for _, node := range ambiguous {
		l.giveBackOn(node, until)
	}
	if len(which) == 0 {
		return
	}
	deadline := time.Now().Add(min(l.r.s.nodeTimeout, l.r.s.ReleaseTimeout))
	done, asked := l.r.fanOutTo(which, deadline, nil, nil, l.releaseOn)
	answered := make([]bool, len(l.r.nodes))
	gather(done, asked, deadline, nil, func(rp reply) bool {
		answered[rp.node] = rp.err == nil
		return false
	})
	for _, node := range which {
		if !answered[node] {
			l.giveBackOn(node, until)
		}
	}
}
