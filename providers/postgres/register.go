package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// WithPostgresDistributedLocking registers a PostgreSQL lock provider on the
// database dsn names ("postgres://user:pass@host:5432/db?sslmode=..." or
// "host=... dbname=..."); configure may change the other [Options]. The
// provider opens its own connections and closes them, releasing every lock,
// when the mediator closes. Build connects and makes sure the fence sequence
// exists (bounded by Options.DialTimeout), and fails with an error matching
// locking.ErrUnavailable when the server does not answer.
func WithPostgresDistributedLocking(dsn string, configure ...func(*Options)) mediator.Option {
	o := Options{DSN: dsn}
	for _, f := range configure {
		f(&o)
	}
	return withOptions("postgres.WithPostgresDistributedLocking", o)
}

// WithPostgresDistributedLockingOptions is [WithPostgresDistributedLocking]
// with every setting, the DSN included, in opts.
func WithPostgresDistributedLockingOptions(opts Options) mediator.Option {
	return withOptions("postgres.WithPostgresDistributedLockingOptions", opts)
}

func withOptions(name string, o Options) mediator.Option {
	if o.DSN == "" {
		return mediator.Failed(name, fmt.Errorf("%w: empty DSN", ErrInvalidOptions))
	}
	if _, _, err := parse(o.DSN, &o); err != nil {
		return mediator.Failed(name, err)
	}
	ctor := func(lc *mediator.Lifecycle) (*Provider, error) {
		p, err := New(o.DSN, &o)
		if err != nil {
			return nil, err
		}
		lc.OnClose(func(context.Context) error { return p.Close() })
		return p, nil
	}
	return mediator.Options(name,
		locking.WithDistributedLockProvider[*Provider](ctor),
		mediator.Invoke(pingProvider),
	)
}

// WithPostgresDistributedLockingFromDI registers a PostgreSQL lock provider
// built on the *pgxpool.Pool the application put in the mediator's container
// with mediator.Provide. The provider takes the pool's connection settings
// and opens connections of its own with them (at most Options.MaxConns), so
// held locks never starve the application's queries; it never closes the
// application's pool. Options.DSN is ignored.
func WithPostgresDistributedLockingFromDI(configure ...func(*Options)) mediator.Option {
	const name = "postgres.WithPostgresDistributedLockingFromDI"
	var o Options
	for _, f := range configure {
		f(&o)
	}
	if _, err := o.settings(); err != nil {
		return mediator.Failed(name, err)
	}
	ctor := func(pool *pgxpool.Pool, lc *mediator.Lifecycle) (*Provider, error) {
		p, err := NewFromPool(pool, &o)
		if err != nil {
			return nil, err
		}
		lc.OnClose(func(context.Context) error { return p.Close() })
		return p, nil
	}
	return mediator.Options(name,
		locking.WithDistributedLockProvider[*Provider](ctor),
		mediator.Invoke(pingProvider),
	)
}

// pingProvider runs at the end of Build: an unreachable server fails Build
// within the dial timeout instead of surfacing at the first Send.
func pingProvider(lp locking.Provider) error {
	p, ok := lp.(interface{ Ping(context.Context) error })
	if !ok {
		return nil // another provider registered too; Build reports that
	}
	return p.Ping(context.Background())
}
