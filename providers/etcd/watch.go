package etcd

import (
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The provider tracks its queue entries (held or waiting) by name, from
// before each is created until it is released or given back, and one watch
// per provider on the key prefix (deletions only) tells it when an entry is
// deleted by anyone else — an operator, or etcd expiring a lease. That costs
// no request and no goroutine per lock.

// track registers a new queue entry of sess for key.
func (p *Provider) track(key, entry string, sess *session) *handle {
	h := &handle{p: p, key: key, entry: entry, sess: sess}
	p.mu.Lock()
	p.entries[entry] = h
	p.mu.Unlock()
	return h
}

// untrack forgets h's entry: its deletion from now on is the provider's own.
func (p *Provider) untrack(h *handle) {
	p.mu.Lock()
	if p.entries[h.entry] == h {
		delete(p.entries, h.entry)
	}
	p.mu.Unlock()
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
// queue.
func (p *Provider) grant(h *handle, rev int64) {
	p.mu.Lock()
	h.token = uint64(rev)
	p.mu.Unlock()
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

// ensureWatching starts the prefix watch, from revision from, unless it
// runs. It is called after an entry was created at revision from-1 and
// before it can be granted, so the watch sees every later deletion.
func (p *Provider) ensureWatching(from int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.watching || p.closed {
		return
	}
	p.watching = true
	ctx := p.watchCtx
	p.wg.Go(func() { p.watchEntries(ctx, from) })
}

// watchEntries fires the lost signal of tracked entries deleted by others,
// until ctx ends (Close). When the watch cannot resume where it stopped
// (history compacted), it reads which tracked entries still exist.
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
