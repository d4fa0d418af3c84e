package etcd

import (
	"context"
	"strconv"
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

// track registers a new queue entry of sess for key, under queue. The
// entry's name is the session's lease and a slot number unique among the
// provider's live entries. Slots are reused (the last freed
// first), so a provider that locks a key again and again writes the same
// etcd key again and again, as concurrency.Mutex does: a fresh name per
// acquisition would leave a deleted key behind in etcd's index each time
// (until a compaction), and every read of the queue visits those, which
// made each acquisition slower than the one before.
func (p *Provider) track(key, queue string, sess *session) *handle {
	p.mu.Lock()
	defer p.mu.Unlock()
	var slot uint32
	if n := len(p.freeSlots); n > 0 {
		slot = p.freeSlots[n-1]
		p.freeSlots = p.freeSlots[:n-1]
	} else {
		slot = p.nextSlot
		p.nextSlot++
	}
	entry := queue + strconv.FormatInt(int64(sess.id), 16) + "-" + strconv.FormatUint(uint64(slot), 36)
	h := &handle{p: p, key: key, entry: entry, slot: slot, sess: sess}
	p.entries[entry] = h
	return h
}

// freeSlot makes h's slot available again: call it once etcd confirmed
// that h's entry is deleted.
func (p *Provider) freeSlot(h *handle) {
	p.mu.Lock()
	p.freeSlots = append(p.freeSlots, h.slot)
	p.mu.Unlock()
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

// loseEntry fires the lost signal of entry if it is tracked and the
// deletion, at revision rev, is of this incarnation of the name (created
// before rev). A deletion seen before the entry's creation revision is known
// is remembered for created.
func (p *Provider) loseEntry(entry string, rev int64) {
	p.mu.Lock()
	h := p.entries[entry]
	fire := false
	if h != nil {
		switch {
		case h.rev == 0:
			h.deletedAt = max(h.deletedAt, rev)
		case rev > h.rev:
			fire = true
		}
	}
	p.mu.Unlock()
	if fire {
		h.lost.Fire()
	}
}

// created records that h's entry was created at revision rev.
func (p *Provider) created(h *handle, rev int64) {
	p.mu.Lock()
	h.rev = rev
	fire := h.deletedAt > rev
	p.mu.Unlock()
	if fire {
		h.lost.Fire()
	}
}

// grant records that h's entry is first in its queue, and has it watched
// if it is still held after watchAfter.
func (p *Provider) grant(h *handle) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h.token = uint64(h.rev)
	h.since = time.Now()
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
	from := h.rev + 1
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
	resp, err := p.client.Get(ctx, h.entry, clientv3.WithKeysOnly())
	if err != nil {
		return // etcd unreachable: the keep-alive tells whether the lease is lost
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != h.rev {
		h.lost.Fire()
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
					p.loseEntry(string(ev.Kv.Key), ev.Kv.ModRevision)
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
	present := make(map[string]int64, len(resp.Kvs)) // entry -> create revision
	for _, kv := range resp.Kvs {
		present[string(kv.Key)] = kv.CreateRevision
	}
	p.loseWhere(func(h *handle) bool { return h.rev != 0 && present[h.entry] != h.rev })
	return resp.Header.Revision + 1
}
