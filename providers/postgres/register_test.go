package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
)

// withdraw is a locked command: one lock per account.
type withdraw struct {
	mediator.Command[uint64]
	locking.DistributedLock `lock:"timeout=2s"`
	Account                 string
}

func (w withdraw) LockKey() string { return w.Account }

// tokenHandler answers with the fencing token of the lock it runs under.
func tokenHandler(ctx context.Context, _ withdraw) (uint64, error) {
	h, ok := locking.FromContext(ctx)
	if !ok {
		return 0, errors.New("handler ran without a lock")
	}
	return h.Token(), nil
}

func build(t *testing.T, opts ...mediator.Option) *mediator.Mediator {
	t.Helper()
	m, err := mediator.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

func providerOf(t *testing.T, m *mediator.Mediator) *postgres.Provider {
	t.Helper()
	var p *postgres.Provider
	if err := m.Invoke(func(lp locking.Provider) { p = lp.(*postgres.Provider) }); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWithPostgresDistributedLockingLocksSendsAndCloseReleases: the DSN form
// locks each Send (the lock is visible in pg_locks while the handler runs),
// tokens grow, and closing the mediator closes the provider.
func TestWithPostgresDistributedLockingLocksSendsAndCloseReleases(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	var heldInHandler int
	m, err := mediator.New(
		postgres.WithPostgresDistributedLocking(dsn),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](func(ctx context.Context, w withdraw) (uint64, error) {
			heldInHandler = heldAdvisoryLocks(t, dsn)
			return tokenHandler(ctx, w)
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for range 3 {
		tok, err := mediator.Send(ctxT(t), m, withdraw{Account: "42"})
		if err != nil || tok <= last {
			t.Fatalf("Send = %d, %v; want a token above %d", tok, err, last)
		}
		last = tok
	}
	if heldInHandler != 1 {
		t.Fatalf("%d advisory locks held while the handler ran, want 1", heldInHandler)
	}
	p := providerOf(t, m)
	if err := m.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.TryAcquire(ctxT(t), "x", 0); !errors.Is(err, postgres.ErrClosed) {
		t.Fatalf("TryAcquire after Close = %v, want ErrClosed", err)
	}
}

// TestOptionsFormSetsPrefixAndSequence: KeyPrefix changes the lock ids and
// Sequence the fence sequence's name.
func TestOptionsFormSetsPrefixAndSequence(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	m := build(t,
		postgres.WithPostgresDistributedLockingOptions(postgres.Options{
			DSN: dsn, KeyPrefix: "bank:", Sequence: "bank_fence",
		}),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](tokenHandler),
	)
	p := providerOf(t, m)
	if p.LockID("k") != postgres.LockID("bank:", "k") || p.LockID("k") == postgres.LockID(postgres.DefaultKeyPrefix, "k") {
		t.Fatal("KeyPrefix does not select the lock ids")
	}
	tok, err := mediator.Send(ctxT(t), m, withdraw{Account: "1"})
	if err != nil {
		t.Fatal(err)
	}
	var lastValue uint64
	if err := newPool(t, dsn).QueryRow(ctxT(t), "SELECT last_value FROM bank_fence").Scan(&lastValue); err != nil || lastValue != tok {
		t.Fatalf("bank_fence's last_value = %d (%v), want the token %d", lastValue, err, tok)
	}
}

// TestFromDIUsesItsOwnConnectionsAndLeavesTheAppsPoolOpen: with the
// application's pool limited to 2 connections, 6 locks held at once still
// leave the application's queries running at once; the provider's sessions
// are its own (application_name), and closing the mediator closes none of
// the application's connections.
func TestFromDIUsesItsOwnConnectionsAndLeavesTheAppsPoolOpen(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	m, err := mediator.New(
		mediator.Provide(func() *pgxpool.Pool { return pool }),
		postgres.WithPostgresDistributedLockingFromDI(func(o *postgres.Options) { o.KeyPrefix = "di:" }),
		locking.WithDistributedLocking[withdraw, uint64](),
		mediator.WithHandler[withdraw, uint64](tokenHandler),
	)
	if err != nil {
		t.Fatal(err)
	}
	p := providerOf(t, m)
	var held []locking.Handle
	for i := range 6 {
		held = append(held, acquire(t, p, "k"+string(rune('a'+i)), 0))
	}
	ctx, cancel := context.WithTimeout(ctxT(t), 5*time.Second)
	defer cancel()
	// A holder's session carries ApplicationName, or its holder record
	// once it has held the lock for 50 ms (see Inspect).
	var own int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 OR application_name LIKE 'tm-lock %'",
		postgres.ApplicationName).Scan(&own); err != nil {
		t.Fatalf("the app's query while 6 locks are held: %v", err)
	}
	if own != 6 {
		t.Fatalf("%d sessions named %q or carrying a holder record, want the 6 holders", own, postgres.ApplicationName)
	}
	if st := pool.Stat(); st.TotalConns() > 2 {
		t.Fatalf("the app's pool has %d connections", st.TotalConns())
	}
	for _, h := range held {
		release(t, h)
	}
	if tok, err := mediator.Send(ctxT(t), m, withdraw{Account: "1"}); err != nil || tok == 0 {
		t.Fatalf("Send = %d, %v", tok, err)
	}
	if err := m.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := pool.Ping(ctxT(t)); err != nil {
		t.Fatalf("the app's pool was closed by the mediator: %v", err)
	}
}

// TestFromDIWithoutAPoolFailsBuild names what is missing.
func TestFromDIWithoutAPoolFailsBuild(t *testing.T) {
	_, err := mediator.New(postgres.WithPostgresDistributedLockingFromDI())
	if err == nil || !strings.Contains(err.Error(), "pgxpool.Pool") {
		t.Fatalf("Build = %v, want a missing *pgxpool.Pool error", err)
	}
}

// TestBadOptionsFailBuild: an empty or malformed DSN and invalid options
// fail Build with ErrInvalidOptions, naming the registration.
func TestBadOptionsFailBuild(t *testing.T) {
	for name, opt := range map[string]mediator.Option{
		"empty DSN":     postgres.WithPostgresDistributedLocking(""),
		"malformed DSN": postgres.WithPostgresDistributedLocking("postgres://[::1"),
		"bad sequence":  postgres.WithPostgresDistributedLocking("postgres://x/y", func(o *postgres.Options) { o.Sequence = "x; DROP TABLE y" }),
		"bad MaxConns":  postgres.WithPostgresDistributedLockingOptions(postgres.Options{DSN: "postgres://x/y", MaxConns: -1}),
		"bad FromDI":    postgres.WithPostgresDistributedLockingFromDI(func(o *postgres.Options) { o.DialTimeout = -1 }),
		"bad KeepAlive": postgres.WithPostgresDistributedLocking("postgres://x/y", func(o *postgres.Options) { o.KeepAlive = time.Second }),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := mediator.New(opt)
			if !errors.Is(err, postgres.ErrInvalidOptions) || !strings.Contains(err.Error(), "postgres.WithPostgresDistributedLocking") {
				t.Fatalf("Build = %v, want ErrInvalidOptions naming the registration", err)
			}
		})
	}
}

// TestAnUnreachableServerFailsBuildWithUnavailable within the dial timeout.
func TestAnUnreachableServerFailsBuildWithUnavailable(t *testing.T) {
	noLeaks(t)
	begin := time.Now()
	_, err := mediator.New(postgres.WithPostgresDistributedLocking("postgres://postgres@127.0.0.1:1/x?sslmode=disable",
		func(o *postgres.Options) { o.DialTimeout = 500 * time.Millisecond }))
	if !errors.Is(err, locking.ErrUnavailable) {
		t.Fatalf("Build = %v, want ErrUnavailable", err)
	}
	within(t, "Build", time.Since(begin), 0, 5*time.Second)
}
