package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
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
}

// App is the bank: its mediator and the store behind it.
type App struct {
	Mediator *mediator.Mediator
	Store    Store
	cfg      Config
}

// NewApp builds the store and the mediator that cfg asks for.
func NewApp(cfg Config) (*App, error) {
	var store Store = NewMemoryStore()
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
	bank := &Bank{Store: store, Work: cfg.Work}
	self := &Self{}
	opts := []mediator.Option{
		mediator.Provide(func() *Bank { return bank }),
		mediator.Provide(func() *Self { return self }),
		mediator.WithGlobalBehavior(validation{}),
		mediator.WithHandler[CreateAccountCommand, Account](NewCreateAccountHandler),
		mediator.WithHandler[GetAccountQuery, Account](NewGetAccountHandler),
		mediator.WithHandler[ListAccountsQuery, []Account](NewListAccountsHandler),
		mediator.WithHandler[DepositCommand, Account](NewDepositHandler),
		mediator.WithHandler[WithdrawCommand, WithdrawResult](NewWithdrawHandler),
		mediator.WithHandler[TransferCommand, TransferResult](NewTransferHandler),
		mediator.WithHandler[StressCommand, StressResult](NewStressHandler),
	}
	if cfg.NoLock {
		// Unlocked on purpose: without this, Build refuses commands that
		// carry the lock marker with no locking behavior.
		opts = append(opts, locking.WithoutLocking())
	} else {
		opts = append(opts, lockingOptions(cfg)...)
	}
	m, err := mediator.New(opts...)
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	self.Mediator = m
	return &App{Mediator: m, Store: store, cfg: cfg}, nil
}

// lockingOptions puts the lock provider and the locking behavior of the
// three commands that move money into the mediator.
func lockingOptions(cfg Config) []mediator.Option {
	provider := memory.WithInMemoryDistributedLocking()
	if addr := cfg.lockAddr(); addr != "" {
		// Shared by every instance pointed at the same Redis, so an
		// account's lock excludes requests on all of them. Build pings
		// Redis: an instance started with Redis down fails at once.
		provider = lockredis.WithRedisDistributedLocking(addr)
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
	if a.cfg.NoLock {
		locks = "OFF (-no-lock: expect lost updates)"
	}
	s := fmt.Sprintf("accounts: %s, locks: %s", storage, locks)
	if a.cfg.Work > 0 {
		s += fmt.Sprintf(", work: %s", a.cfg.Work)
	}
	return s
}

// Close closes the mediator (its lock provider's connections) and the
// store. Requests must have finished.
func (a *App) Close(ctx context.Context) error {
	return errors.Join(a.Mediator.Close(ctx), a.Store.Close())
}
