package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresStore keeps accounts in PostgreSQL (-postgres DSN), so that
// several instances share them; the account locks are then taken in the same
// database by the PostgreSQL provider, unless -lock-etcd or -lock-redis puts
// them elsewhere.
//
// Two tables, created at start if missing: bank_accounts (id, owner,
// balance, fence) and bank_applied (the idempotency records, with their
// expiry). Every write is one UPDATE guarded by the writer's fencing token,
//
//	UPDATE bank_accounts SET balance = $2, fence = $3 WHERE id = $1 AND fence <= $3
//
// so the database itself refuses the write of a holder whose lock was taken
// over by a newer one (a larger token already stored). The same holder may
// write twice with its token; a write without a lock (-no-lock, token 0) is
// not checked and leaves the stored fence alone, as in the other stores.
//
// The tokens of one account must all come from one lock provider: they are
// compared with each other. Moving the locks of a database with accounts to
// another provider (-lock-etcd after PostgreSQL's own locks, say) starts
// from a fresh token space and may have every write refused as stale.
type PostgresStore struct {
	pool *pgxpool.Pool
	ids  idGenerator
	// records counts applied records written since the last sweep of the
	// expired ones.
	records atomic.Int64
}

// postgresSchema creates the tables. The id column sorts by bytes (COLLATE
// "C"), as the other stores do, whatever the database's collation.
const postgresSchema = `
CREATE TABLE IF NOT EXISTS bank_accounts (
	id      text COLLATE "C" PRIMARY KEY,
	owner   text   NOT NULL,
	balance bigint NOT NULL,
	fence   bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS bank_applied (
	key      text PRIMARY KEY,
	request  text        NOT NULL,
	response bytea       NOT NULL,
	expires  timestamptz NOT NULL
)`

// schemaLockID is the advisory lock that serialises the schema creation of
// instances starting at once (CREATE TABLE IF NOT EXISTS alone races).
const schemaLockID = 0x62616e6b // "bank"

// postgresPoolSize is the pool's size unless the DSN sets pool_max_conns:
// with -no-lock every request reads and writes at once.
const postgresPoolSize = 64

// NewPostgresStore connects to dsn (a postgres:// URL or "host=... dbname=..."
// keywords), checks that the server answers and creates the tables if they
// are missing.
func NewPostgresStore(dsn string) (*PostgresStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres DSN: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = postgresPoolSize
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeProbeTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", unavailable(err))
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLockID)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, postgresSchema)
		return err
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: creating the bank's tables: %w", unavailable(err))
	}
	return &PostgresStore{pool: pool}, nil
}

// Create implements Store: the account and its applied record in one
// transaction.
func (s *PostgresStore) Create(ctx context.Context, owner string, balance int64, applied *Applied) (Account, error) {
	a := Account{ID: s.ids.next(time.Now()), Owner: owner, Balance: balance}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO bank_accounts (id, owner, balance) VALUES ($1, $2, $3)", a.ID, owner, balance); err != nil {
			return err
		}
		if applied == nil {
			return nil
		}
		r := *applied
		r.Response = mustJSON(a)
		return s.record(ctx, tx, r)
	})
	if err != nil {
		return Account{}, unavailable(err)
	}
	return a, nil
}

// appliedSweepRows is how many expired records one sweep deletes at most.
const appliedSweepRows = 1000

// record writes (or replaces an expired) applied record, and every
// appliedSweepEvery records deletes expired ones.
func (s *PostgresStore) record(ctx context.Context, tx pgx.Tx, r Applied) error {
	if s.records.Add(1)%appliedSweepEvery == 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM bank_applied WHERE key IN
			(SELECT key FROM bank_applied WHERE expires < now() LIMIT $1)`, appliedSweepRows); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO bank_applied (key, request, response, expires)
		VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
		ON CONFLICT (key) DO UPDATE SET request = $2, response = $3, expires = now() + $4 * interval '1 millisecond'`,
		r.Key, r.Request, r.Response, max(r.TTL.Milliseconds(), 1))
	return err
}

// Get implements Store.
func (s *PostgresStore) Get(ctx context.Context, id string) (Account, error) {
	a := Account{ID: id}
	err := s.pool.QueryRow(ctx, "SELECT owner, balance FROM bank_accounts WHERE id = $1", id).Scan(&a.Owner, &a.Balance)
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, fmt.Errorf("%w: %s", ErrAccountNotFound, id)
	}
	if err != nil {
		return Account{}, unavailable(err)
	}
	return a, nil
}

// List implements Store.
func (s *PostgresStore) List(ctx context.Context, after string, limit int) ([]Account, error) {
	rows, err := s.pool.Query(ctx, "SELECT id, owner, balance FROM bank_accounts WHERE id > $1 ORDER BY id LIMIT $2", after, limit)
	if err != nil {
		return nil, unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Account, error) {
		var a Account
		err := row.Scan(&a.ID, &a.Owner, &a.Balance)
		return a, err
	})
	if err != nil {
		return nil, unavailable(err)
	}
	if out == nil {
		out = []Account{}
	}
	return out, nil
}

// errSaveRefused carries a refusal (missing account, stale token) out of
// Save's transaction, which it rolls back, without calling it unavailable.
type errSaveRefused struct{ err error }

func (e errSaveRefused) Error() string { return e.err.Error() }

// Save implements Store in one transaction: each write is one fenced
// UPDATE; the first refused one rolls every write back.
func (s *PostgresStore) Save(ctx context.Context, applied *Applied, writes ...Write) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, w := range writes {
			var tag interface{ RowsAffected() int64 }
			var err error
			if w.Fence == 0 {
				tag, err = tx.Exec(ctx, "UPDATE bank_accounts SET balance = $2 WHERE id = $1", w.AccountID, w.Balance)
			} else {
				tag, err = tx.Exec(ctx, "UPDATE bank_accounts SET balance = $2, fence = $3 WHERE id = $1 AND fence <= $3",
					w.AccountID, w.Balance, fenceParam(w.Fence))
			}
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				continue
			}
			// Refused: say why.
			var stored int64
			err = tx.QueryRow(ctx, "SELECT fence FROM bank_accounts WHERE id = $1", w.AccountID).Scan(&stored)
			if errors.Is(err, pgx.ErrNoRows) {
				return errSaveRefused{fmt.Errorf("%w: %s", ErrAccountNotFound, w.AccountID)}
			}
			if err != nil {
				return err
			}
			return errSaveRefused{fmt.Errorf("account %q, token %d < %d: %w", w.AccountID, w.Fence, stored, ErrStaleWrite)}
		}
		if applied == nil {
			return nil
		}
		return s.record(ctx, tx, *applied)
	})
	var refused errSaveRefused
	if errors.As(err, &refused) {
		return refused.err
	}
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// fenceParam is a token as PostgreSQL's bigint. Tokens are far below 2^63
// (a sequence, an etcd revision, a Redis counter); a larger one would be a
// bug, and is clamped so that it cannot wrap to a negative fence that every
// later write would pass.
func fenceParam(token uint64) int64 {
	if token > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(token)
}

// Load implements Store: the accounts and the record in one batch, one
// round trip.
func (s *PostgresStore) Load(ctx context.Context, key string, ids ...string) ([]Account, *Applied, error) {
	var batch pgx.Batch
	found := make(map[string]Account, len(ids))
	batch.Queue("SELECT id, owner, balance FROM bank_accounts WHERE id = ANY($1)", ids).Query(func(rows pgx.Rows) error {
		var a Account
		_, err := pgx.ForEachRow(rows, []any{&a.ID, &a.Owner, &a.Balance}, func() error {
			found[a.ID] = a
			return nil
		})
		return err
	})
	var rec *Applied
	if key != "" {
		batch.Queue("SELECT request, response FROM bank_applied WHERE key = $1 AND expires > now()", key).QueryRow(func(row pgx.Row) error {
			r := Applied{Key: key}
			err := row.Scan(&r.Request, &r.Response)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err == nil {
				rec = &r
			}
			return err
		})
	}
	if err := s.pool.SendBatch(ctx, &batch).Close(); err != nil {
		return nil, nil, unavailable(err)
	}
	out := make([]Account, len(ids))
	for i, id := range ids {
		a, ok := found[id]
		if !ok {
			return nil, nil, fmt.Errorf("%w: %s", ErrAccountNotFound, id)
		}
		out[i] = a
	}
	return out, rec, nil
}

// Ping implements Store.
func (s *PostgresStore) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// Close implements Store.
func (s *PostgresStore) Close() error {
	s.pool.Close()
	return nil
}
