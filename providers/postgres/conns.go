package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Idle connections older than pingIdleAfter are pinged before use (one that
// died with a restarted server is replaced); older than maxIdleTime, closed.
const (
	pingIdleAfter = time.Second
	maxIdleTime   = 30 * time.Minute
)

// errConnsClosed is what get answers once close has been called.
var errConnsClosed = errors.New("postgres: connections closed")

// errNoFreeConn is what get answers when every connection stayed in use
// until the deadline.
var errNoFreeConn = errors.New("postgres: no free connection before the deadline")

// conns are the provider's own connections, at most max of them, each used
// by one caller at a time: a held lock, a head of a key's queue, or a single
// try. Idle ones are kept for reuse (last in, first out). It starts no
// goroutine; a caller that finds every connection in use waits, in arrival
// order, for one to be put back.
type conns struct {
	cfg  *pgx.ConnConfig
	max  int
	stop <-chan struct{} // closed when the provider closes: waiters give up

	mu      sync.Mutex
	idle    []idleConn
	open    int             // idle, in use, or being dialled
	waiters []chan struct{} // callers waiting for a slot, first first
	closed  bool
}

type idleConn struct {
	c     *pgx.Conn
	since time.Time
}

func newConns(cfg *pgx.ConnConfig, max int, stop <-chan struct{}) *conns {
	return &conns{cfg: cfg, max: max, stop: stop}
}

// get returns a connection: an idle one, or a new one if fewer than max are
// open, or the first one put back before deadline. The dial and the ping of
// a long-idle connection are bounded by deadline and ctx.
func (cs *conns) get(ctx context.Context, deadline time.Time) (*pgx.Conn, error) {
	for {
		cs.mu.Lock()
		if cs.closed {
			cs.mu.Unlock()
			return nil, errConnsClosed
		}
		if n := len(cs.idle); n > 0 {
			ic := cs.idle[n-1]
			cs.idle[n-1] = idleConn{}
			cs.idle = cs.idle[:n-1]
			cs.mu.Unlock()
			idle := time.Since(ic.since)
			if ic.c.IsClosed() || idle > maxIdleTime {
				cs.drop(ic.c, time.Second)
				continue
			}
			if idle > pingIdleAfter {
				pctx, cancel := context.WithDeadline(ctx, deadline)
				err := ic.c.Ping(pctx)
				cancel()
				if err != nil {
					cs.drop(ic.c, time.Second)
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					continue // a fresh connection tells a dead server from a dead connection
				}
			}
			return ic.c, nil
		}
		if cs.open < cs.max {
			cs.open++
			cs.mu.Unlock()
			dctx, cancel := context.WithDeadline(ctx, deadline)
			c, err := pgx.ConnectConfig(dctx, cs.cfg)
			cancel()
			if err != nil {
				cs.mu.Lock()
				cs.open--
				cs.wakeLocked()
				cs.mu.Unlock()
				return nil, err
			}
			return c, nil
		}
		ch := make(chan struct{}, 1)
		cs.waiters = append(cs.waiters, ch)
		cs.mu.Unlock()
		t := time.NewTimer(time.Until(deadline))
		var err error
		select {
		case <-ch:
		case <-t.C:
			err = errNoFreeConn
		case <-ctx.Done():
			err = ctx.Err()
		case <-cs.stop:
			err = errConnsClosed
		}
		t.Stop()
		if err != nil {
			cs.giveUp(ch)
			return nil, err
		}
	}
}

// giveUp takes a waiter out; one that was woken meanwhile hands the
// wake-up on.
func (cs *conns) giveUp(ch chan struct{}) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for i, w := range cs.waiters {
		if w == ch {
			cs.waiters = append(cs.waiters[:i], cs.waiters[i+1:]...)
			return
		}
	}
	cs.wakeLocked()
}

// wakeLocked wakes the first waiter, if any.
func (cs *conns) wakeLocked() {
	if len(cs.waiters) == 0 {
		return
	}
	ch := cs.waiters[0]
	cs.waiters = cs.waiters[1:]
	ch <- struct{}{}
}

// put gives c back for reuse; a closed one (or any after close) is dropped.
// The caller must know that c's session holds no lock.
func (cs *conns) put(c *pgx.Conn) {
	cs.mu.Lock()
	if cs.closed || c.IsClosed() {
		cs.mu.Unlock()
		cs.drop(c, time.Second)
		return
	}
	cs.idle = append(cs.idle, idleConn{c: c, since: time.Now()})
	cs.wakeLocked()
	cs.mu.Unlock()
}

// drop closes c (its session, and any advisory lock it holds, ends) and
// frees its slot.
func (cs *conns) drop(c *pgx.Conn, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	_ = c.Close(ctx)
	cancel()
	cs.mu.Lock()
	cs.open--
	cs.wakeLocked()
	cs.mu.Unlock()
}

// close closes the idle connections and makes get fail from now on; one in
// use is closed when it is put back or dropped.
func (cs *conns) close() {
	cs.mu.Lock()
	cs.closed = true
	idle := cs.idle
	cs.idle = nil
	for _, w := range cs.waiters {
		w <- struct{}{}
	}
	cs.waiters = nil
	cs.mu.Unlock()
	for _, ic := range idle {
		cs.drop(ic.c, time.Second)
	}
}

// stat returns how many connections are in use (or being dialled) and idle.
func (cs *conns) stat() (inUse, idle int) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.open - len(cs.idle), len(cs.idle)
}
