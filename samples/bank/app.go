package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/idempotency"
	"github.com/turbomediator/turbomediator-go/behaviors/idempotency/redisstore"
	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/behaviors/locking/lockdebug"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
	lockredis "github.com/turbomediator/turbomediator-go/providers/redis"
)

// Config is what the command-line flags decide.
type Config struct {
	// RedisAddr, when set, keeps accounts and locks in Redis so that
	// several instances share them; otherwise both live in this process.
	RedisAddr string
	// LockRedisAddr, when set, takes the account locks there instead of
	// at RedisAddr: another Redis, or "redlock://a:6379,b:6379,c:6379" for
	// a majority of independent masters.
	LockRedisAddr string
	// Work is the artificial delay of every handler that changes money.
	Work time.Duration
	// NoLock builds the same mediator without the locking behavior.
	NoLock bool
	// LockTimeout, when positive, replaces the 10s the commands' tags ask
	// for (tests use it to see contention without waiting 10s).
	LockTimeout time.Duration
	// LockTTL, when positive, is the lease of a Redis lock: how long an
	// account stays locked after the instance holding it dies. 0: the
	// provider's default, 30s. (In-process locks have no lease.)
	LockTTL time.Duration
	// Limits bound the HTTP server's connections.
	Limits Limits
	// PostgresDSN, when set, keeps accounts in PostgreSQL (and, unless
	// LockEtcd or LockRedisAddr says otherwise, the locks too): see
	// backends.go.
	PostgresDSN string
	// LockEtcd, when set, takes the account locks on etcd at these
	// comma-separated endpoints, wherever the accounts are.
	LockEtcd string
	// IdempotencyTTL, when positive, is how long the answer of a request
	// with an Idempotency-Key is remembered; 0: 24h.
	IdempotencyTTL time.Duration
	// Telemetry decides where spans go; see observability.go.
	Telemetry Telemetry
}

// defaultIdempotencyTTL is how long answers are remembered by default.
const defaultIdempotencyTTL = 24 * time.Hour

func (cfg Config) idempotencyTTL() time.Duration {
	if cfg.IdempotencyTTL > 0 {
		return cfg.IdempotencyTTL
	}
	return defaultIdempotencyTTL
}

// idempotencyLease is how long a request in flight holds its key: the lock
// lease. A duplicate that comes later than that (the first instance died)
// runs, takes the account lock, and finds the applied record if the first
// wrote one.
func (cfg Config) idempotencyLease() time.Duration {
	if cfg.LockTTL > 0 {
		return cfg.LockTTL
	}
	return lockredis.DefaultTTL
}

// App is the bank: its mediator and the store behind it.
type App struct {
	Mediator *mediator.Mediator
	Store    Store
	// Locks lists the locks this instance holds and waits for, for
	// GET /debug/locks (debug.go).
	Locks *lockdebug.Table
	cfg   Config
	// lockPing reaches the lock provider, when it can be pinged.
	lockPing func(context.Context) error
	// telemetry feeds GET /metrics and, with -trace, exports spans.
	telemetry *telemetry
}

// NewApp builds the store and the mediator that cfg asks for.
func NewApp(cfg Config) (*App, error) {
	var store Store = NewMemoryStore()
	if bs, err := newBackendStore(cfg); err != nil {
		return nil, err
	} else if bs != nil {
		store = bs
	}
	if cfg.RedisAddr != "" {
		rs, err := NewRedisStore(cfg.RedisAddr)
		if err != nil {
			return nil, err
		}
		store = rs
	}
	return newApp(cfg, store)
}

// newApp builds the mediator around store, which it owns from then on.
func newApp(cfg Config, store Store) (*App, error) {
	bank := &Bank{Store: store, Work: cfg.Work, AppliedTTL: cfg.idempotencyTTL()}
	// Retries are recognised across instances when the answers live in the
	// shared Redis, in this process otherwise.
	var idem idempotency.Store = idempotency.NewMemoryStore(nil)
	if rs, ok := store.(*RedisStore); ok {
		idem = redisstore.New(rs.client, &redisstore.Options{KeyPrefix: rs.prefix + "idempotency:"})
	}
	idemOptions := func(o *idempotency.Options) {
		o.TTL = cfg.idempotencyTTL()
		o.Lease = cfg.idempotencyLease()
	}
	opts := []mediator.Option{
		mediator.Provide(func() *Bank { return bank }),
		// Outermost first: bad input is refused, then unknown accounts,
		// before any key is claimed or lock taken.
		mediator.WithGlobalBehavior(validation{}),
		mediator.WithGlobalBehavior(newExistence),
		idempotency.WithStore(idem),
		idempotency.WithIdempotency[CreateAccountCommand, Account](idemOptions),
		idempotency.WithIdempotency[DepositCommand, Account](idemOptions),
		idempotency.WithIdempotency[WithdrawCommand, WithdrawResult](idemOptions),
		idempotency.WithIdempotency[TransferCommand, TransferResult](idemOptions),
		idempotency.WithIdempotency[StressCommand, StressResult](idemOptions),
		mediator.WithHandler[CreateAccountCommand, Account](NewCreateAccountHandler),
		mediator.WithHandler[GetAccountQuery, Account](NewGetAccountHandler),
		mediator.WithHandler[ListAccountsQuery, AccountPage](NewListAccountsHandler),
		mediator.WithHandler[DepositCommand, Account](NewDepositHandler),
		mediator.WithHandler[WithdrawCommand, WithdrawResult](NewWithdrawHandler),
		mediator.WithHandler[TransferCommand, TransferResult](NewTransferHandler),
		mediator.WithHandler[StressCommand, StressResult](NewStressHandler),
	}
	tel, err := newTelemetry(cfg.Telemetry)
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	opts = append(tel.options(), opts...)
	if cfg.NoLock {
		// Unlocked on purpose: without this, Build refuses commands that
		// carry the lock marker with no locking behavior.
		opts = append(opts, locking.WithoutLocking())
	} else {
		opts = append(opts, lockingOptions(cfg)...)
	}
	locks, locksOption := lockTable()
	opts = append(opts, locksOption)
	m, err := mediator.New(opts...)
	if err != nil {
		return nil, errors.Join(err, store.Close(), tel.shutdown(context.Background()))
	}
	app := &App{Mediator: m, Store: store, Locks: locks, cfg: cfg, telemetry: tel}
	if !cfg.NoLock {
		_ = m.Invoke(func(p locking.Provider) {
			if pinger, ok := p.(interface{ Ping(context.Context) error }); ok {
				app.lockPing = pinger.Ping
			}
		})
	}
	return app, nil
}

// readyTimeout bounds one readiness check.
const readyTimeout = 2 * time.Second

// NotReadyError says which of the app's dependencies cannot be reached;
// a nil field is one that answered.
type NotReadyError struct {
	Store error
	Locks error
}

// Error names the parts that are not ready and why.
func (e *NotReadyError) Error() string {
	var parts []string
	if e.Store != nil {
		parts = append(parts, "account store unreachable: "+e.Store.Error())
	}
	if e.Locks != nil {
		parts = append(parts, "lock provider unreachable: "+e.Locks.Error())
	}
	return strings.Join(parts, "; ")
}

// Unwrap gives the causes.
func (e *NotReadyError) Unwrap() []error { return []error{e.Store, e.Locks} }

// Ready tells whether the store and the lock provider can be reached, for
// GET /readyz: nil, or a *NotReadyError.
func (a *App) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	storeErr := make(chan error, 1)
	go func() { storeErr <- a.Store.Ping(ctx) }()
	var e NotReadyError
	if a.lockPing != nil {
		e.Locks = a.lockPing(ctx)
	}
	e.Store = <-storeErr
	if e.Store == nil && e.Locks == nil {
		return nil
	}
	return &e
}

// lockingOptions puts the lock provider and the locking behavior of the
// three commands that move money into the mediator.
func lockingOptions(cfg Config) []mediator.Option {
	provider := memory.WithInMemoryDistributedLocking()
	if addr := cfg.lockAddr(); addr != "" {
		// Shared by every instance pointed at the same Redis, so an
		// account's lock excludes requests on all of them. Build pings
		// Redis: an instance started with Redis down fails at once.
		provider = lockredis.WithRedisDistributedLocking(addr, func(o *lockredis.Options) {
			o.TTL = cfg.LockTTL // 0: the provider's default
		})
	}
	if p, ok := backendLockProvider(cfg); ok {
		provider = p // etcd or PostgreSQL: backends.go
	}
	configure := func(o *locking.Options) {
		if cfg.LockTimeout > 0 {
			o.DefaultTimeout = cfg.LockTimeout
		}
	}
	return []mediator.Option{
		provider,
		locking.WithDistributedLocking[DepositCommand, Account](configure),
		locking.WithDistributedLocking[WithdrawCommand, WithdrawResult](configure),
		locking.WithDistributedLocking[TransferCommand, TransferResult](configure),
	}
}

// lockAddr is where the account locks are taken: LockRedisAddr, else
// RedisAddr; "" for this process's memory.
func (cfg Config) lockAddr() string {
	if cfg.LockRedisAddr != "" {
		return cfg.LockRedisAddr
	}
	if cfg.LockEtcd != "" {
		return "" // locks on etcd: backends.go
	}
	return cfg.RedisAddr
}

// Describe says in a few words how the app stores accounts and locks them.
func (a *App) Describe() string {
	storage, locks := "memory", "memory"
	if a.cfg.RedisAddr != "" {
		storage = "redis " + a.cfg.RedisAddr
	}
	if addr := a.cfg.lockAddr(); addr != "" {
		locks = "redis " + addr
	}
	storage, locks = a.cfg.describeBackends(storage, locks)
	if a.cfg.NoLock {
		locks = "OFF (-no-lock: expect lost updates)"
	}
	s := fmt.Sprintf("accounts: %s, locks: %s", storage, locks)
	if addr := a.cfg.lockAddr(); addr != "" && !a.cfg.NoLock {
		ttl := a.cfg.LockTTL
		if ttl <= 0 {
			ttl = lockredis.DefaultTTL
		}
		s += fmt.Sprintf(", lock lease: %s", ttl)
	}
	if a.cfg.Work > 0 {
		s += fmt.Sprintf(", work: %s", a.cfg.Work)
	}
	return s + a.telemetry.describe(a.cfg.Telemetry)
}

// Close closes the mediator (its lock provider's connections) and the
// store, and flushes the spans not yet exported. Requests must have
// finished.
func (a *App) Close(ctx context.Context) error {
	return errors.Join(a.Mediator.Close(ctx), a.Store.Close(), a.telemetry.shutdown(ctx))
}
