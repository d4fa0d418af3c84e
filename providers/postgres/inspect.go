package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

var _ locking.Inspector = (*Provider)(nil)

// An advisory lock has no storage of its own to keep its holder in, and a
// table would cost every grant a write and leave rows behind killed holders.
// The holder record is therefore the holding session's application_name,
// visible to every session in pg_stat_activity and gone with the session:
//
//	tm-lock <token> <grant time> <instance> <message type>
//
// The grant time is in Unix milliseconds, base 36, by the holder's clock.
// The session watcher writes it when it starts (watchDelay after the grant),
// off the Send's path: a lock held for less never costs the statement, and
// is told by its session's pid alone. Release puts the session's own name
// back in the unlock statement. The server keeps 63 bytes of a name, so a
// long instance or message type is cut short; trace and span ids do not
// fit, and are told only for locks held by the asking provider.
const (
	recordPrefix    = "tm-lock"
	setNameSQL      = "SELECT set_config('application_name', $1, false)"
	unlockRenameSQL = "SELECT pg_advisory_unlock($1), set_config('application_name', $2, false)"
)

// record returns h's holder record.
func (p *Provider) record(h *handle) string {
	mt := "-"
	if h.who.MessageType != "" {
		mt = recordPart(h.who.MessageType)
	}
	return recordPrefix + " " + strconv.FormatUint(h.token, 10) + " " + strconv.FormatInt(h.since.UnixMilli(), 36) +
		" " + p.instance + " " + mt
}

// recordPart makes s one word of a holder record: application_name keeps
// printable ASCII only, and spaces separate the words.
func recordPart(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c > '~' {
			b[i] = '_'
		}
	}
	return string(b)
}

// inspectSQL finds the session that holds an advisory lock on a bigint id
// (classid: the high 32 bits, objid: the low ones, objsubid 1) in the
// current database, with its application_name (the holder record, if
// written) and how long ago the session went idle: for a session without a
// record, the end of the statement that took the lock, the last one it ran.
const inspectSQL = `SELECT a.pid, coalesce(a.application_name, ''),
       coalesce(extract(epoch FROM now() - a.state_change), -1)::float8
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid::int8 = $1 AND l.objid::int8 = $2`

// Inspect says who holds key. A lock held through this provider is answered
// from its handle, with the holder's whole identity (trace and span ids
// included), without asking the server. Any other is looked up in pg_locks
// and pg_stat_activity. A provider of this package records its holder in
// the holding session's application_name 50 ms after the grant: from then
// on Inspect tells the holder's instance and message type (both cut short
// past the 63 bytes the server keeps), its fencing token and its grant time
// (by the holder's clock). Before that, or for a lock taken otherwise, it
// tells the session's pid (and application_name) and HeldFor from the end
// of the granting statement, by the server's clock, and no token. An
// advisory lock has no lease: LeaseLeft is 0. Waiters counts this provider's callers waiting for
// key. A server that fails or does not answer within Options.DialTimeout
// gives a *locking.UnavailableError; a closed provider one wrapping
// [ErrClosed]. Inspect changes no lock.
func (p *Provider) Inspect(ctx context.Context, key string) (locking.LockInfo, error) {
	info := locking.LockInfo{Key: key, Waiters: p.queues.count(key)}
	if err := ctx.Err(); err != nil {
		return info, contextError(ctx, key)
	}
	if err := p.begin(key); err != nil {
		return info, err
	}
	defer p.inflight.Done()
	if p.heldHere(&info) {
		return info, nil
	}
	deadline := time.Now().Add(p.s.dialTimeout)
	c, err := p.conn(ctx, key, deadline)
	if err != nil {
		return info, err
	}
	id := p.LockID(key)
	var (
		pid  int32
		name string
		idle float64
	)
	err = bounded(ctx, c, deadline, func() error {
		return c.QueryRow(context.Background(), inspectSQL, int64(uint64(id)>>32), int64(uint32(id))).Scan(&pid, &name, &idle)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		p.conns.put(c)
		return info, nil
	case err != nil:
		p.discard(c)
		return info, p.inspectError(ctx, key, err)
	}
	p.conns.put(c)
	info.Held = true
	if r, ok := parseRecord(name); ok {
		info.Token = r.token
		info.Holder = locking.Holder{Instance: r.instance, MessageType: r.messageType, Since: r.since}
		info.HeldFor = max(time.Since(r.since), 0)
		return info, nil
	}
	// No record (yet): the session, and how long ago it took the lock.
	info.Holder.Instance = "pid " + strconv.Itoa(int(pid))
	if name != "" {
		info.Holder.Instance += " (" + name + ")"
	}
	if idle >= 0 {
		info.HeldFor = time.Duration(idle * float64(time.Second))
		info.Holder.Since = time.Now().Add(-info.HeldFor)
	}
	return info, nil
}

// heldHere fills info from the handle of a lock this provider holds on
// info.Key, and reports whether there was one (a lost one does not count:
// the server may have granted it since).
func (p *Provider) heldHere(info *locking.LockInfo) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for h := range p.held {
		if h.key != info.Key || h.lost.Fired() {
			continue
		}
		info.Held = true
		info.Token = h.token
		info.Holder = locking.Holder{Instance: p.s.instance, MessageType: h.who.MessageType,
			TraceID: h.who.TraceID, SpanID: h.who.SpanID, Since: h.since}
		info.HeldFor = time.Since(h.since)
		return true
	}
	return false
}

// holderRecord is a holder record read back.
type holderRecord struct {
	token                 uint64
	since                 time.Time
	instance, messageType string // messageType "" for none
}

// parseRecord reads a holder record, as far as the server kept it.
func parseRecord(name string) (holderRecord, bool) {
	f := strings.SplitN(name, " ", 5)
	if len(f) < 4 || f[0] != recordPrefix {
		return holderRecord{}, false
	}
	token, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return holderRecord{}, false
	}
	ms, err := strconv.ParseInt(f[2], 36, 64)
	if err != nil {
		return holderRecord{}, false
	}
	r := holderRecord{token: token, since: time.UnixMilli(ms), instance: f[3]}
	if len(f) == 5 && f[4] != "-" {
		r.messageType = f[4]
	}
	return r, true
}

// inspectError is the error of a lookup that failed on the server.
func (p *Provider) inspectError(ctx context.Context, key string, err error) error {
	if ctx.Err() != nil {
		return contextError(ctx, key)
	}
	return &locking.UnavailableError{Key: key, Err: fmt.Errorf("postgres: inspect: %w", err)}
}
