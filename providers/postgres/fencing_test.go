package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
)

// TestTheTokenFencesAStaleHoldersWrite: the example's handler (a fenced
// UPDATE on the application's pool) moves money under the lock; a holder
// whose session was terminated, writing late with its old token after the
// next holder wrote, changes nothing.
func TestTheTokenFencesAStaleHoldersWrite(t *testing.T) {
	noLeaks(t)
	dsn := database(t)
	pool := newPool(t, dsn)
	ctx := ctxT(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE accounts (id text PRIMARY KEY, balance bigint NOT NULL, fence bigint NOT NULL DEFAULT 0);
		INSERT INTO accounts (id, balance) VALUES ('42', 1000)`); err != nil {
		t.Fatal(err)
	}
	m := build(t,
		mediator.Provide(func() *pgxpool.Pool { return pool }),
		postgres.WithPostgresDistributedLockingFromDI(),
		locking.WithDistributedLocking[WithdrawCommand, int64](),
		mediator.WithHandler[WithdrawCommand, int64](func(db *pgxpool.Pool) WithdrawHandler { return WithdrawHandler{db} }),
	)
	p := providerOf(t, m)

	// A stale holder: it took the lock, then its session was terminated.
	stale := acquire(t, p, "account:42", 0)
	terminateHolder(t, dsn, p.LockID("account:42"))
	<-stale.Lost()
	_ = stale.Release(context.Background())

	balance, err := mediator.Send(ctx, m, WithdrawCommand{AccountID: "42", Amount: 100})
	if err != nil || balance != 900 {
		t.Fatalf("Send = %d, %v; want 900", balance, err)
	}
	tag, err := pool.Exec(ctx, `UPDATE accounts SET balance = balance - 500, fence = $2 WHERE id = $1 AND fence < $2`,
		"42", int64(stale.Token()))
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != 0 {
		t.Fatal("the stale holder's write went through")
	}
	var got int64
	if err := pool.QueryRow(ctx, "SELECT balance FROM accounts WHERE id = '42'").Scan(&got); err != nil || got != 900 {
		t.Fatalf("balance = %d (%v), want 900", got, err)
	}
}
