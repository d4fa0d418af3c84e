package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

var _ locking.Inspector = (*Provider)(nil)

// entryValue is what a queue entry's etcd value holds: who asked for the
// lock (the [locking.Acquirer] of the TryAcquire's context, and the
// provider's instance) and when, in JSON, so that an operator reading the
// queue with etcdctl sees it too.
type entryValue struct {
	Instance    string `json:"instance"`
	MessageType string `json:"message_type,omitempty"`
	TraceID     string `json:"trace_id,omitempty"`
	SpanID      string `json:"span_id,omitempty"`
	// Asked is when the entry was created (Unix nanoseconds, the asking
	// process's clock).
	Asked int64 `json:"asked"`
}

// entryValueFor encodes the value of an entry created now on ctx.
func (p *Provider) entryValueFor(ctx context.Context, now time.Time) string {
	v := entryValue{Instance: p.s.instance, Asked: now.UnixNano()}
	if a, ok := locking.AcquirerFromContext(ctx); ok {
		v.MessageType, v.TraceID, v.SpanID = a.MessageType, a.TraceID, a.SpanID
	}
	b, err := json.Marshal(v)
	if err != nil { // strings and an integer always encode
		panic(fmt.Sprintf("etcd: encoding an entry value: %v", err))
	}
	return string(b)
}

// Inspect reports who holds key (a [locking.Inspector]): the holder's
// entry is the oldest of key's queue. Holder comes from the entry's value
// (written by the holding provider when it asked); Since is the grant time
// for a lock this provider holds, and otherwise when the holder's entry was
// created, by its process's clock — which, for a holder that waited, is
// before the grant. Token is the entry's create revision, LeaseLeft what
// etcd says is left of the holder's session lease, Waiters this provider's
// callers waiting for key. An etcd that does not answer within
// Options.RequestTimeout gives an error matching locking.ErrUnavailable.
func (p *Provider) Inspect(ctx context.Context, key string) (locking.LockInfo, error) {
	info := locking.LockInfo{Key: key, Waiters: p.Waiters(key)}
	ctx, cancel := context.WithTimeout(ctx, p.s.requestTimeout)
	defer cancel()
	resp, err := p.client.Get(ctx, p.QueuePrefix(key), clientv3.WithFirstCreate()...)
	if err != nil {
		return info, &locking.UnavailableError{Key: key, Err: fmt.Errorf("etcd: inspect: %w", err)}
	}
	if len(resp.Kvs) == 0 {
		return info, nil
	}
	kv := resp.Kvs[0]
	info.Held = true
	info.Token = uint64(kv.CreateRevision)
	var v entryValue
	if json.Unmarshal(kv.Value, &v) == nil {
		info.Holder = locking.Holder{Instance: v.Instance, MessageType: v.MessageType, TraceID: v.TraceID, SpanID: v.SpanID}
		if v.Asked != 0 {
			info.Holder.Since = time.Unix(0, v.Asked)
		}
	}
	p.mu.Lock()
	if h := p.entries[string(kv.Key)]; h != nil && h.token != 0 && h.rev == kv.CreateRevision {
		info.Holder.Since = h.since
	}
	p.mu.Unlock()
	if !info.Holder.Since.IsZero() {
		info.HeldFor = max(time.Since(info.Holder.Since), 0)
	}
	if kv.Lease != 0 {
		ttl, err := p.client.TimeToLive(ctx, clientv3.LeaseID(kv.Lease))
		if err != nil {
			return info, &locking.UnavailableError{Key: key, Err: fmt.Errorf("etcd: inspect: the holder's lease: %w", err)}
		}
		if ttl.TTL > 0 {
			info.LeaseLeft = time.Duration(ttl.TTL) * time.Second
		}
	}
	return info, nil
}
