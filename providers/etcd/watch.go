package etcd

import (
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The provider tracks its queue entries (held or waiting) by name, from
// before each is created until it is released or given back. A lock held
// for longer than watchAfter is watched: one watch per provider on the key
// prefix (deletions only), running while at least one such lock is held,
// tells it when an entry is deleted by anyone else — an operator, or etcd
// expiring a lease. That costs no request and no goroutine per lock, and a
// lock released within watchAfter (the uncontended fast path) costs no watch
// event at all: the watch is not running, so neither its creation nor the
// release's deletion event reach this process.
//
// No deletion is missed by starting late: the watch starts from the revision
// after the held entry's creation, so etcd replays a deletion that happened
// in between. A lock held longer than watchAfter while the watch already runs
// from a later revision is checked with one read instead.

// watchAfter is how long a lock is held before the provider watches it: the
// bound on how late Lost closes after someone else deleted the entry, on top
// of the watch event's delivery. (A lease that expires is noticed by the
// keep-alive, not by the watch.)
const watchAfter = 100 * time.Millisecond

// prefixWatch is the running prefix watch.
type prefixWatch struct {
	cancel context.CancelFunc
	from   int64 // the first revision it reports deletions of
}

// track registers a new queue entry of sess for key.
func (p *Provider) track(key, entry string, sess *session) *handle {
	h := &handle{p: p, key: key, entry: entry, sess: sess}
	p.mu.Lock()
	p.entries[entry] = h
	p.mu.Unlock()
	return h
}

// untrack forgets h's entry: its deletion from now on is the provider's own.
// It stops the prefix watch when h was the last watched lock, before h's
// entry is deleted, so the watch does not receive that deletion.
func (p *Provider) untrack(h *handle) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entries[h.entry] == h {
		delete(p.entries, h.entry)
	}
	if h.watchTimer != nil {
		h.watchTimer.Stop()
		h.watchTimer = nil
	}
	if h.watched {
		h.watched = false
		p.watched--
		if p.watched == 0 && p.watch != nil {
			p.watch.cancel()
			p.watch = nil
		}
	}
}

// loseEntry fires the lost signal of entry if it is tracked.
func (p *Provider) loseEntry(entry string) {
	p.mu.Lock()
	h := p.entries[entry]
	p.mu.Unlock()
	if h != nil {
		h.lost.Fire()
	}
}

// grant records that h's entry, created at revision rev, is first in its
// queue, and has it watched if it is still held after watchAfter.
func (p *Provider) grant(h *handle, rev int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h.token = uint64(rev)
	if p.entries[h.entry] == h {
		h.watchTimer = time.AfterFunc(watchAfter, func() { p.watchHeld(h) })
	}
}

// loseWhere fires the lost signal of every tracked entry that match
// selects; match runs under p.mu.
func (p *Provider) loseWhere(match func(*handle) bool) {
	p.mu.Lock()
	var lost []*handle
	for _, h := range p.entries {
		if match(h) {
			lost = append(lost, h)
		}
	}
	p.mu.Unlock()
	for _, h := range lost {
		h.lost.Fire()
	}
}

// watchHeld runs when h has been held for watchAfter: it starts the prefix
// watch from the revision after h's creation, or, when the watch already
// runs from a later revision, reads whether h's entry still exists.
func (p *Provider) watchHeld(h *handle) {
	p.mu.Lock()
	if p.closed || p.entries[h.entry] != h || h.watched {
		p.mu.Unlock()
		return
	}
	h.watched = true
	p.watched++
	from := int64(h.token) + 1
	if p.watch == nil {
		ctx, cancel := context.WithCancel(p.watchCtx)
		p.watch = &prefixWatch{cancel: cancel, from: from}
		p.wg.Go(func() { p.watchEntries(ctx, from) })
		p.mu.Unlock()
		return
	}
	covered := p.watch.from <= from
	if !covered {
		p.wg.Add(1)
	}
	p.mu.Unlock()
	if !covered {
		defer p.wg.Done()
		p.checkEntry(h)
	}
}

// checkEntry reads whether h's entry exists and fires its lost signal if it
// does not. The running prefix watch reports the deletions after the read.
func (p *Provider) checkEntry(h *handle) {
	ctx, cancel := context.WithTimeout(p.watchCtx, p.s.requestTimeout)
	defer cancel()
	resp, err := p.client.Get(ctx, h.entry, clientv3.WithCountOnly())
	if err != nil {
		return // etcd unreachable: the keep-alive tells whether the lease is lost
	}
	if resp.Count == 0 {
		p.loseEntry(h.entry)
	}
}

// watchEntries fires the lost signal of tracked entries deleted by others,
// until ctx ends (no watched lock any more, or Close). When the watch cannot
// resume where it stopped (history compacted), it reads which tracked
// entries still exist.
func (p *Provider) watchEntries(ctx context.Context, from int64) {
	for ctx.Err() == nil {
		wch := p.client.Watch(ctx, p.s.keyPrefix, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithFilterPut())
		for wr := range wch {
			if wr.CompactRevision != 0 {
				from = p.checkEntries(ctx, from)
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE {
					p.loseEntry(string(ev.Kv.Key))
				}
			}
			from = wr.Header.Revision + 1
		}
		if ctx.Err() != nil {
			return
		}
		if p.client.Ctx().Err() != nil {
			// The client was closed under the provider: nothing can vouch
			// for any lock any more.
			p.loseWhere(func(*handle) bool { return true })
			return
		}
		select { // do not spin on a watch that keeps failing
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkEntries reads the prefix and fires the lost signal of tracked
// entries that are gone; it returns the revision to watch from.
func (p *Provider) checkEntries(ctx context.Context, from int64) int64 {
	rctx, cancel := context.WithTimeout(ctx, p.s.requestTimeout)
	defer cancel()
	resp, err := p.client.Get(rctx, p.s.keyPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return from // try again with the next watch
	}
	present := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		present[string(kv.Key)] = true
	}
	p.loseWhere(func(h *handle) bool { return h.token != 0 && !present[h.entry] })
	return resp.Header.Revision + 1
}
