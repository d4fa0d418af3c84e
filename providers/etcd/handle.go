package etcd

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// handle is one held lock: the caller's queue entry, first in its queue.
type handle struct {
	p     *Provider
	key   string
	entry string
	token uint64
	sess  *session

	lost      chan struct{}
	loseOnce  sync.Once
	stopWatch context.CancelFunc

	released    atomic.Bool
	releaseOnce sync.Once
	releaseErr  error
}

// newHandle returns the handle of a grant and starts its watcher: Lost
// closes when the entry is deleted by anyone but Release, or when the
// session is lost.
func (p *Provider) newHandle(key, entry string, rev int64, sess *session) *handle {
	// The watch ends with the session too: a Watch call blocks while etcd
	// is unreachable, and a lost session must still close Lost.
	ctx, cancel := context.WithCancel(sess.ctx)
	h := &handle{p: p, key: key, entry: entry, token: uint64(rev), sess: sess, lost: make(chan struct{}), stopWatch: cancel}
	p.wg.Go(func() { h.watch(ctx, rev+1) })
	return h
}

// Key returns the key as the caller gave it.
func (h *handle) Key() string { return h.key }

// Token returns the entry's create revision: it grows with every grant of
// the key, cluster-wide.
func (h *handle) Token() uint64 { return h.token }

// Lost returns a channel closed when the lock can no longer be vouched for:
// the entry was deleted (by an operator, or by etcd when the lease expired)
// or the session lease went two thirds of its TTL without a renewal answer.
func (h *handle) Lost() <-chan struct{} { return h.lost }

func (h *handle) lose() { h.loseOnce.Do(func() { close(h.lost) }) }

// watch closes lost when the entry is deleted or the session is lost; it
// ends then, or when Release stops it.
func (h *handle) watch(ctx context.Context, from int64) {
	for {
		wch := h.p.client.Watch(ctx, h.entry, clientv3.WithRev(from), clientv3.WithFilterPut())
	events:
		for {
			select {
			case <-ctx.Done():
				if h.sess.ctx.Err() != nil && !h.released.Load() {
					h.lose() // the session was abandoned: its lease is not renewed
				}
				return
			case <-h.sess.done:
				h.lose()
				return
			case wr, ok := <-wch:
				if !ok || wr.Canceled {
					if ctx.Err() != nil {
						if h.sess.ctx.Err() != nil && !h.released.Load() {
							h.lose()
						}
						return
					}
					if h.p.client.Ctx().Err() != nil {
						h.lose() // the client was closed: nothing can vouch for the lock
						return
					}
					if wr.CompactRevision != 0 {
						from = wr.CompactRevision
					}
					break events // watch again
				}
				for _, ev := range wr.Events {
					if ev.Type == mvccpb.DELETE {
						h.lose()
						return
					}
				}
				from = wr.Header.Revision + 1
			}
		}
	}
}

// Release deletes the entry, which hands the lock to the next in the queue,
// and stops the watcher. It runs on a context that ctx's cancellation does
// not reach, bounded by Options.ReleaseTimeout. Only the first call does the
// work; later ones return nil. It reports a *locking.UnavailableError when
// etcd did not confirm (the entry then goes with the session lease, which
// the provider stops renewing), and an error wrapping locking.ErrLockLost
// when the entry was already gone.
func (h *handle) Release(ctx context.Context) error {
	first := false
	h.releaseOnce.Do(func() {
		first = true
		h.released.Store(true)
		h.stopWatch()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.p.s.releaseTimeout)
		defer cancel()
		resp, err := h.p.client.Delete(ctx, h.entry)
		switch {
		case err != nil:
			h.p.abandon(h.sess)
			h.releaseErr = &locking.UnavailableError{Key: h.key, Err: fmt.Errorf("etcd: release: %w", err)}
		case resp.Deleted == 0:
			h.releaseErr = fmt.Errorf("etcd: release %q: %w (its entry was gone)", h.key, locking.ErrLockLost)
		}
	})
	if !first {
		return nil
	}
	return h.releaseErr
}
