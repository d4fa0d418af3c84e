package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// ErrClosed is the cause, wrapped in a *locking.UnavailableError, with which
// TryAcquire fails on a closed provider, and with which Close ends the waits
// in progress.
var ErrClosed = errors.New("postgres: provider closed")

// SQLSTATE codes the provider tells apart.
const (
	codeLockNotAvailable = "55P03" // lock_timeout ran out
	codeDeadlock         = "40P01" // the server's deadlock detector chose us
	codeDuplicateTable   = "42P07" // CREATE SEQUENCE IF NOT EXISTS raced another
	codeUniqueViolation  = "23505" // the same race, seen in pg_class
)

// maxBrokenRetries bounds the tries on further connections after one turned
// out to be broken (idle connections that died with a restarted server).
const maxBrokenRetries = 3

// ApplicationName is the application_name of the provider's own sessions
// (unless the DSN or the application's pool sets one): they are easy to find
// in pg_stat_activity. A session that has held its lock for 50ms carries
// the lock's holder record instead ("tm-lock ...", see [Provider.Inspect])
// until the release.
const ApplicationName = "turbomediator-locks"

// Provider is a [locking.Provider] on PostgreSQL advisory locks: its locks
// exclude every process and machine that uses the same database and key
// prefix. Build one with [New] or [NewFromPool], or register it with
// [WithPostgresDistributedLocking] and its siblings.
//
// Each held lock is a session-level advisory lock on a connection of the
// provider's own (never one of the application's), watched by one goroutine
// that reads that connection: when the session ends (the server terminated
// or restarted, the connection broken) the handle's Lost channel closes at
// once. See the package documentation for the whole design.
type Provider struct {
	conns   *conns
	s       settings
	trySQL  string // one try that draws the token when granted
	waitSQL string // a wait in the server's queue, then the token
	seqSQL  string // creates the sequence
	queues  *queues
	// baseName is the sessions' application_name when they hold no lock
	// with a record (see inspect.go); instance is settings.instance as a
	// record writes it.
	baseName, instance string
	// recordTimeout bounds the statement that writes a holder record: no
	// longer than the keepalives would take to give up on a silent path
	// (the statement holds them back while its answer is due).
	recordTimeout time.Duration

	mu     sync.Mutex
	closed bool
	// closeCtx is cancelled by Close: acquisitions in progress give up.
	closeCtx    context.Context
	closeCancel context.CancelFunc
	inflight    sync.WaitGroup
	held        map[*handle]struct{}
	holding     sync.WaitGroup // one per handle until its Release has finished
	seqReady    bool

	closeOnce sync.Once
}

var _ locking.Provider = (*Provider)(nil)

// New returns a provider that opens its own connections (at most
// Options.MaxConns) to the database dsn names. opts may be nil. It does not
// connect yet: [Provider.Ping] checks the server. Close the provider to
// release its locks and close its connections.
func New(dsn string, opts *Options) (*Provider, error) {
	cfg, s, err := parse(dsn, opts)
	if err != nil {
		return nil, err
	}
	return newProvider(cfg, s)
}

// parse checks dsn and opts without opening anything.
func parse(dsn string, opts *Options) (*pgx.ConnConfig, settings, error) {
	s, err := opts.settings()
	if err != nil {
		return nil, s, err
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, s, fmt.Errorf("%w: DSN: %w", ErrInvalidOptions, err)
	}
	return cfg, s, nil
}

// NewFromPool returns a provider that opens its own connections with the
// connection settings of the application's pool (address, credentials, TLS,
// runtime parameters): held locks never take a connection the application's
// queries need. The provider neither uses nor closes pool. opts may be nil;
// Options.DSN is ignored.
func NewFromPool(pool *pgxpool.Pool, opts *Options) (*Provider, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", ErrInvalidOptions)
	}
	s, err := opts.settings()
	if err != nil {
		return nil, err
	}
	return newProvider(pool.Config().ConnConfig.Copy(), s)
}

func newProvider(cc *pgx.ConnConfig, s settings) (*Provider, error) {
	cc.ConnectTimeout = s.dialTimeout
	recordTimeout := s.releaseTimeout
	params := map[string]string{}
	for k, v := range cc.RuntimeParams {
		params[k] = v
	}
	if params["application_name"] == "" {
		params["application_name"] = ApplicationName
	}
	// A held lock is an idle session: no server timeout may end it, and the
	// waits set their own lock_timeout.
	params["statement_timeout"] = "0"
	params["lock_timeout"] = "0"
	params["idle_in_transaction_session_timeout"] = "0"
	params["idle_session_timeout"] = "0"
	// nextval WAL-logs one record per 32 values and then gives its
	// transaction an xid, so that the commit flushes the record; with
	// synchronous_commit off that flush is skipped and a crash could hand
	// out a token again. The provider's own sessions always flush.
	params["synchronous_commit"] = "on"
	if ka := s.keepAlive; ka > 0 {
		// A silent path: the server ends the session (letting the lock
		// go) between 3×KeepAlive and 3.5×KeepAlive after it went
		// silent; the provider's sockets give up first, within about
		// 1.25×KeepAlive, so Lost closes before the server could grant
		// the lock to someone else (see keepalives).
		kas := newKeepalives(ka)
		recordTimeout = min(recordTimeout, kas.giveUp())
		params["tcp_keepalives_idle"] = kas.serverIdle
		params["tcp_keepalives_interval"] = kas.serverInterval
		params["tcp_keepalives_count"] = kas.serverCount
		params["tcp_user_timeout"] = kas.serverUserTimeout
		cfg := kas.client
		dial := cc.DialFunc
		cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok && err == nil {
				_ = tc.SetKeepAliveConfig(cfg)
			}
			return c, err
		}
	}
	cc.RuntimeParams = params
	closeCtx, closeCancel := context.WithCancel(context.Background())
	return &Provider{
		closeCtx:      closeCtx,
		closeCancel:   closeCancel,
		conns:         newConns(cc, int(s.maxConns), closeCtx.Done()),
		s:             s,
		trySQL:        "SELECT CASE WHEN pg_try_advisory_lock($1) THEN nextval('" + s.sequence + "') ELSE 0 END",
		waitSQL:       "SELECT nextval('" + s.sequence + "') FROM (SELECT pg_advisory_lock($1) OFFSET 0) AS granted",
		seqSQL:        "CREATE SEQUENCE IF NOT EXISTS " + s.sequence,
		queues:        newQueues(),
		held:          make(map[*handle]struct{}),
		baseName:      params["application_name"],
		recordTimeout: recordTimeout,
		instance:      recordPart(s.instance),
	}, nil
}

// KeyPrefix returns the prefix mixed into the lock ids.
func (p *Provider) KeyPrefix() string { return p.s.keyPrefix }

// LockID returns the advisory lock id of key: [LockID] of the provider's
// prefix and key.
func (p *Provider) LockID(key string) int64 { return LockID(p.s.keyPrefix, key) }

// Waiters returns how many goroutines of this provider wait for key.
func (p *Provider) Waiters(key string) int { return p.queues.count(key) }

// Conns returns how many connections the provider has open, in use (held
// locks and heads of waiting queues) or idle.
func (p *Provider) Conns() (inUse, idle int) { return p.conns.stat() }

// Ping checks, within Options.DialTimeout, that the server answers and the
// fence sequence exists (creating it unless Options.SkipCreateSequence). A
// failure matches errors.Is(err, locking.ErrUnavailable) and wraps the cause.
func (p *Provider) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.s.dialTimeout)
	defer cancel()
	if err := p.ensureSequence(ctx); err != nil {
		return &locking.UnavailableError{Key: "", Err: fmt.Errorf("postgres: ping: %w", err)}
	}
	return nil
}

// ensureSequence creates the fence sequence once (or, with
// SkipCreateSequence, checks that it can be read).
func (p *Provider) ensureSequence(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(p.s.dialTimeout)
	}
	c, err := p.conns.get(ctx, deadline)
	if err != nil {
		return err
	}
	defer p.conns.put(c) // no lock is taken on it
	p.mu.Lock()
	ready := p.seqReady
	p.mu.Unlock()
	if ready {
		return c.Ping(ctx)
	}
	if p.s.createSequence {
		_, err = c.Exec(ctx, p.seqSQL)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == codeDuplicateTable || pgErr.Code == codeUniqueViolation) {
			err = nil // another process created it at the same moment
		}
	} else {
		_, err = c.Exec(ctx, "SELECT last_value FROM "+p.s.sequence)
	}
	if err != nil {
		return fmt.Errorf("fence sequence %s: %w", p.s.sequence, err)
	}
	p.mu.Lock()
	p.seqReady = true
	p.mu.Unlock()
	return nil
}

// Close ends the acquisitions in progress (they fail with ErrClosed),
// releases every lock still held (their Lost channels close first, so the
// handlers are cancelled) and closes the provider's connections. It never
// touches an application's pool. Close is idempotent; when it returns, no
// goroutine of the provider is left.
func (p *Provider) Close() error {
	var errs []error
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.closeCancel()
		p.mu.Unlock()
		p.inflight.Wait()

		p.mu.Lock()
		held := make([]*handle, 0, len(p.held))
		for h := range p.held {
			held = append(held, h)
		}
		p.mu.Unlock()
		for _, h := range held {
			h.lost.Fire()
			if err := h.Release(context.Background()); err != nil && !errors.Is(err, locking.ErrLockLost) {
				errs = append(errs, err)
			}
		}
		// A Release that another goroutine started before Close still
		// uses its connection: the others close after it.
		p.holding.Wait()
		p.conns.close()
	})
	return errors.Join(errs...)
}

// begin registers an acquisition in progress; it fails once Close started.
func (p *Provider) begin(key string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return &locking.UnavailableError{Key: key, Err: ErrClosed}
	}
	p.inflight.Add(1)
	return nil
}

// TryAcquire takes the lock on key, waiting up to timeout; timeout <= 0 makes
// one attempt that does not wait. See [locking.Provider] for the outcomes: a
// Handle; a *locking.Error (ErrNotAcquired) when the key stayed taken; a
// *locking.UnavailableError (ErrUnavailable, wrapping the cause) when the
// server failed, did not answer in time, or every connection the provider
// may open was in use ([ErrConnectionLimit]); ctx's error when ctx ended
// first.
//
// Callers of one provider waiting for one key queue in arrival order; only
// the first of them waits in the server's lock queue (lock_timeout set to
// what is left of its timeout), where the callers of other providers wait
// too. A release hands the lock on inside the server, so nobody polls.
func (p *Provider) TryAcquire(ctx context.Context, key string, timeout time.Duration) (locking.Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, contextError(ctx, key)
	}
	if err := p.begin(key); err != nil {
		return nil, err
	}
	defer p.inflight.Done()
	start := time.Now()
	id := p.LockID(key)
	a, _ := locking.AcquirerFromContext(ctx)
	if timeout <= 0 {
		return p.acquire(ctx, key, id, a, start.Add(p.s.dialTimeout), false, true)
	}
	deadline := start.Add(timeout)
	w, head := p.queues.join(key)
	defer p.queues.leave(key, w)
	if !head {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-w.turn:
		case <-t.C:
			return nil, &locking.Error{Key: key, Timeout: timeout}
		case <-ctx.Done():
			return nil, contextError(ctx, key)
		case <-p.closeCtx.Done():
			return nil, &locking.UnavailableError{Key: key, Err: ErrClosed}
		}
	}
	// A caller that queued behind others found the key contended: it goes
	// straight to the server's queue, which grants at once if the key is free.
	h, err := p.acquire(ctx, key, id, a, deadline, true, head)
	var le *locking.Error
	if errors.As(err, &le) {
		le.Timeout = timeout
	}
	return h, err
}

// acquire runs as the head of key's queue (or as a single try): it takes a
// connection, tries the lock (when try is set) and, when wait is set and the
// lock is taken, waits for it in the server's queue until deadline.
func (p *Provider) acquire(ctx context.Context, key string, id int64, a locking.Acquirer, deadline time.Time, wait, try bool) (locking.Handle, error) {
	if err := p.readySequence(ctx, key, deadline); err != nil {
		return nil, err
	}
	var c *pgx.Conn
	var token int64
	for attempt := 0; ; attempt++ {
		var err error
		c, err = p.conn(ctx, key, deadline)
		if err != nil {
			return nil, err
		}
		if !try {
			h, err, broken := p.wait(ctx, key, id, a, deadline, c)
			if broken && attempt < maxBrokenRetries && time.Now().Before(deadline) {
				continue // as below
			}
			return h, err
		}
		err = bounded(ctx, c, deadline, func() error {
			return c.QueryRow(context.Background(), p.trySQL, id).Scan(&token)
		})
		if err == nil {
			break
		}
		// The statement may have taken the lock before it failed: only
		// closing the session is sure to give it back.
		broken := c.IsClosed()
		p.discard(c)
		if broken && attempt < maxBrokenRetries && ctx.Err() == nil && time.Now().Before(deadline) {
			// An idle connection that died with a restarted server: its
			// session, and whatever it took, is gone; another try (on a
			// fresh connection once the stale ones are used up) tells a
			// server that is back from one that is down.
			continue
		}
		return nil, p.acquireError(ctx, key, err, deadline)
	}
	if token > 0 {
		return p.newHandle(key, id, a, uint64(token), c)
	}
	if !wait {
		p.conns.put(c)
		return nil, &locking.Error{Key: key}
	}
	h, err, _ := p.wait(ctx, key, id, a, deadline, c)
	return h, err
}

// wait waits in the server's lock queue on c until deadline, with
// lock_timeout set to the time left, then draws the token. The caller's
// ctx and Close interrupt the wait with a cancel request to the server.
// broken reports a connection found dead (c is discarded), which another
// connection may not be.
func (p *Provider) wait(ctx context.Context, key string, id int64, a locking.Acquirer, deadline time.Time, c *pgx.Conn) (_ locking.Handle, _ error, broken bool) {
	ctxBound := false // the context's deadline ends the wait, not the timeout
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxBound = d, true
	}
	// notAcquired reports the end of the wait: when the context's deadline
	// bounded it, the context's error (it is due within a millisecond).
	notAcquired := func() error {
		if ctxBound {
			<-ctx.Done()
		}
		if ctx.Err() != nil {
			return contextError(ctx, key)
		}
		return &locking.Error{Key: key}
	}
	left := time.Until(deadline)
	if left < time.Millisecond { // lock_timeout = 0 would mean no limit
		p.conns.put(c)
		return nil, notAcquired(), false
	}
	// The server ends the wait by lock_timeout; the query's own deadline,
	// later by DialTimeout, only cuts off a server that stopped answering.
	qctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(p.s.dialTimeout))
	defer cancel()
	wctx, stopCause := context.WithCancel(ctx)
	defer stopCause()
	stopClose := context.AfterFunc(p.closeCtx, stopCause)
	defer stopClose()
	interrupted := make(chan struct{})
	stopInterrupt := context.AfterFunc(wctx, func() {
		defer close(interrupted)
		cctx, cancel := context.WithTimeout(context.Background(), p.s.dialTimeout)
		defer cancel()
		_ = c.PgConn().CancelRequest(cctx)
	})

	b := &pgx.Batch{}
	b.Queue("SELECT set_config('lock_timeout', $1, false)", strconv.FormatInt(max(left.Milliseconds(), 1), 10)+"ms")
	var token int64
	b.Queue(p.waitSQL, id).QueryRow(func(r pgx.Row) error { return r.Scan(&token) })
	err := c.SendBatch(qctx, b).Close()

	if !stopInterrupt() {
		// A cancel request went out: it may reach a later statement, and
		// the lock may have been granted just before; closing the session
		// settles both.
		<-interrupted
		p.discard(c)
		if ctx.Err() != nil {
			return nil, contextError(ctx, key), false
		}
		return nil, &locking.UnavailableError{Key: key, Err: ErrClosed}, false
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == codeLockNotAvailable || pgErr.Code == codeDeadlock) {
			// Not granted: the session holds nothing and can be reused.
			p.conns.put(c)
			if pgErr.Code == codeDeadlock {
				return nil, &locking.Error{Key: key}, false
			}
			return nil, notAcquired(), false
		}
		broken := c.IsClosed() && ctx.Err() == nil
		p.discard(c)
		return nil, p.acquireError(ctx, key, err, deadline), broken
	}
	h, err := p.newHandle(key, id, a, uint64(token), c)
	return h, err, false
}

// readySequence makes sure the fence sequence exists before the first grant
// (the registrations do it at Build; a provider from New does it here).
func (p *Provider) readySequence(ctx context.Context, key string, deadline time.Time) error {
	p.mu.Lock()
	ready := p.seqReady
	p.mu.Unlock()
	if ready {
		return nil
	}
	sctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if err := p.ensureSequence(sctx); err != nil {
		if ctx.Err() != nil {
			return contextError(ctx, key)
		}
		return &locking.UnavailableError{Key: key, Err: err}
	}
	return nil
}

// conn takes one of the provider's connections, waiting until deadline for
// one to be free or dialled.
func (p *Provider) conn(ctx context.Context, key string, deadline time.Time) (*pgx.Conn, error) {
	c, err := p.conns.get(ctx, deadline)
	switch {
	case err == nil:
		return c, nil
	case ctx.Err() != nil:
		return nil, contextError(ctx, key)
	case errors.Is(err, errConnsClosed):
		return nil, &locking.UnavailableError{Key: key, Err: ErrClosed}
	case errors.Is(err, errNoFreeConn):
		return nil, &locking.UnavailableError{Key: key, Err: fmt.Errorf("%w (%d)", ErrConnectionLimit, p.s.maxConns)}
	}
	return nil, &locking.UnavailableError{Key: key, Err: fmt.Errorf("postgres: connecting: %w", err)}
}

// acquireError reports a failed lock statement: ctx's error when ctx ended,
// otherwise the server's or the network's failure.
func (p *Provider) acquireError(ctx context.Context, key string, err error, deadline time.Time) error {
	if ctx.Err() != nil {
		return contextError(ctx, key)
	}
	if !time.Now().Before(deadline) {
		err = fmt.Errorf("postgres: no answer before the acquisition's deadline: %w", err)
	}
	return &locking.UnavailableError{Key: key, Err: err}
}

// discard closes c's session (which gives back any advisory lock it holds)
// and frees its place.
func (p *Provider) discard(c *pgx.Conn) { p.conns.drop(c, p.s.releaseTimeout) }

// bounded runs f, a statement on c issued with context.Background() (so
// that pgx registers nothing per call), with c's socket deadline at
// deadline; ctx's end moves the deadline to now. When ctx ended, it reports
// ctx's error even if f succeeded: the caller then discards c.
func bounded(ctx context.Context, c *pgx.Conn, deadline time.Time, f func() error) error {
	nc := c.PgConn().Conn()
	_ = nc.SetDeadline(deadline)
	var stop func() bool
	var fired chan struct{}
	if ctx.Done() != nil {
		fired = make(chan struct{})
		stop = context.AfterFunc(ctx, func() {
			_ = nc.SetDeadline(time.Now())
			close(fired)
		})
	}
	err := f()
	if stop != nil && !stop() {
		<-fired
		if err == nil {
			err = ctx.Err()
		}
	}
	_ = nc.SetDeadline(time.Time{})
	return err
}

// contextError reports that ctx ended while the caller wanted key. It wraps
// ctx.Err() and the cancellation cause when one was given.
func contextError(ctx context.Context, key string) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("postgres: acquiring %q: %w: %w", key, err, cause)
	}
	return fmt.Errorf("postgres: acquiring %q: %w", key, err)
}
