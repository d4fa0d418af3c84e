package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// handle is one held advisory lock: the session of conn holds it. From
// watchDelay after the grant, one goroutine (watch) reads conn while the
// lock is held, so the end of the session — a FATAL message from a
// terminated or shutting-down backend, or the socket closing — is seen the
// moment it arrives; Release stops it before unlocking on the same
// connection.
type handle struct {
	p     *Provider
	key   string
	id    int64
	token uint64
	conn  *pgx.Conn
	lost  locking.LostSignal
	who   locking.Acquirer
	since time.Time // when the grant's answer arrived

	watchStart *time.Timer   // starts watch after watchDelay
	stopping   atomic.Bool   // set by Release before it wakes watch
	watchDone  chan struct{} // closed when watch has returned
	sessionOK  bool          // set by watch before watchDone closes: it was stopped, not cut off
	// recording is held by watch while it writes the holder record, so that
	// Release does not cut that statement off; recorded is set by watch
	// before watchDone closes when the record was written.
	recording sync.Mutex
	recorded  bool

	mu       sync.Mutex
	released bool
}

var (
	_ locking.Handle       = (*handle)(nil)
	_ locking.LostNotifier = (*handle)(nil)
)

// newHandle registers a granted lock and starts watching its session. On a
// closed provider it gives the lock back and reports ErrClosed.
func (p *Provider) newHandle(key string, id int64, a locking.Acquirer, token uint64, c *pgx.Conn) (locking.Handle, error) {
	h := &handle{p: p, key: key, id: id, token: token, conn: c, who: a, since: time.Now(), watchDone: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.discard(c)
		return nil, &locking.UnavailableError{Key: key, Err: ErrClosed}
	}
	p.held[h] = struct{}{}
	p.holding.Add(1)
	p.mu.Unlock()
	// No goroutine for a lock released within watchDelay: the timer's own
	// goroutine, if it fires, is the watcher.
	h.watchStart = time.AfterFunc(watchDelay, h.watch)
	return h, nil
}

// watchDelay is how long after the grant the session watcher starts: a lock
// held for less costs no goroutine, and Lost closes at most this much later
// than the session's end (a watcher that starts after the end sees it at
// once).
const watchDelay = 50 * time.Millisecond

// watch first writes the holder record (see inspect.go), then reads the
// held lock's connection until Release stops it (by a read deadline in the
// past, after setting stopping) or the session ends; in the latter case the
// server has already let the lock go, so lost fires at once. No query runs
// on the connection meanwhile: the only messages a healthy idle session gets
// are notices and parameter changes, which are skipped. (A deadline rather
// than a context: pgconn watches a cancellable context with a goroutine of
// its own per call.)
func (h *handle) watch() {
	defer close(h.watchDone)
	if !h.record() {
		h.lost.Fire()
		return
	}
	pc := h.conn.PgConn()
	for {
		err := pc.WaitForNotification(context.Background())
		if err == nil {
			continue // a notification (the provider LISTENs to nothing)
		}
		if h.stopping.Load() && !pc.IsClosed() {
			h.sessionOK = true
			return
		}
		h.lost.Fire()
		return
	}
}

// record writes the holder record into the session's application_name,
// unless Release has begun, within recordTimeout. It reports false, having
// closed the connection, when the statement failed or got no answer in time.
func (h *handle) record() bool {
	h.recording.Lock()
	defer h.recording.Unlock()
	if h.stopping.Load() {
		return true
	}
	nc := h.conn.PgConn().Conn()
	_ = nc.SetDeadline(time.Now().Add(h.p.recordTimeout))
	_, err := h.conn.Exec(context.Background(), setNameSQL, h.p.record(h))
	_ = nc.SetDeadline(time.Time{})
	if err != nil {
		// No answer in time, or a session cut off: either way it cannot be
		// vouched for any more. Closing it lets the lock go (at once, or
		// when the server gives up on a silent path, after Lost).
		_ = nc.Close()
		return false
	}
	h.recorded = true
	return true
}

// Key returns the lock key, without the provider's prefix.
func (h *handle) Key() string { return h.key }

// Token returns the fencing token of this grant, drawn from the fence
// sequence right after the grant, in the same statement.
func (h *handle) Token() uint64 { return h.token }

// Lost returns the channel closed when the session holding the lock has
// ended (the server let the lock go with it), or when the provider closed.
func (h *handle) Lost() <-chan struct{} { return h.lost.Channel() }

// AfterLost arranges for f to run, on a goroutine of its own, once the lock
// is lost (at once if it already is); stop unregisters f and reports whether
// it did so before f was started, as with context.AfterFunc.
func (h *handle) AfterLost(f func()) (stop func() bool) { return h.lost.AfterLost(f) }

// LostSignal returns the signal that tells the lock's loss: the locking
// behavior watches it directly, which costs it no allocation (see
// locking.LostSignal).
func (h *handle) LostSignal() *locking.LostSignal { return &h.lost }

// Release unlocks the advisory lock and gives the connection back to the
// provider. It runs on a context that ctx's cancellation does not reach,
// bounded by Options.ReleaseTimeout. Only the first call does the work;
// later ones return nil. When the session had already ended it reports an
// error wrapping locking.ErrLockLost; when the unlock could not be confirmed
// the session is closed (which lets the lock go) and a
// *locking.UnavailableError is reported.
func (h *handle) Release(ctx context.Context) error {
	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		return nil
	}
	h.released = true
	h.mu.Unlock()
	p := h.p
	defer func() {
		p.mu.Lock()
		delete(p.held, h)
		p.mu.Unlock()
		p.holding.Done()
	}()

	nc := h.conn.PgConn().Conn()
	if !h.watchStart.Stop() {
		// The watcher runs (or is about to): wake it and wait for it.
		h.stopping.Store(true)
		h.recording.Lock() // a record being written is let finish
		_ = nc.SetReadDeadline(time.Now())
		h.recording.Unlock()
		<-h.watchDone
	} else {
		// Never started: nothing read the connection, so whether the
		// session is alive the unlock below tells.
		h.sessionOK = !h.conn.IsClosed()
	}
	if !h.sessionOK {
		p.discard(h.conn)
		return fmt.Errorf("postgres: release %q: %w (its session had ended)", h.key, locking.ErrLockLost)
	}
	// The unlock is bounded by a deadline on the connection too (ctx's
	// cancellation never reaches a Release).
	_ = nc.SetDeadline(time.Now().Add(p.s.releaseTimeout))
	var unlocked bool
	var err error
	if h.recorded {
		// The session goes back to its name, so that its next lock is not
		// taken for this one before it has a record of its own.
		var name string
		err = h.conn.QueryRow(context.Background(), unlockRenameSQL, h.id, p.baseName).Scan(&unlocked, &name)
	} else {
		err = h.conn.QueryRow(context.Background(), "SELECT pg_advisory_unlock($1)", h.id).Scan(&unlocked)
	}
	_ = nc.SetDeadline(time.Time{})
	switch {
	case err != nil:
		p.discard(h.conn)
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			err = fmt.Errorf("no answer within %s: %w", p.s.releaseTimeout, err)
		}
		return &locking.UnavailableError{Key: h.key, Err: fmt.Errorf("postgres: release: %w", err)}
	case !unlocked:
		p.discard(h.conn)
		return fmt.Errorf("postgres: release %q: %w (the session no longer held it)", h.key, locking.ErrLockLost)
	}
	p.conns.put(h.conn)
	return nil
}
