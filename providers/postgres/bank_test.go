package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
)

// errInsufficient is the handler's answer when the balance is too low.
var errInsufficient = errors.New("insufficient funds")

// bankWithdraw takes cents from an account with a read-modify-write, the
// pattern that loses money without a lock.
type bankWithdraw struct {
	mediator.Command[int64]
	locking.DistributedLock `lock:"prefix=account,timeout=2m"`
	Account                 string
	Cents                   int64
}

func (w bankWithdraw) LockKey() string { return w.Account }

// bankHandler reads the balance, then writes it back less the amount,
// guarded by the lock's token when fenced (fence < token).
type bankHandler struct {
	db     *pgxpool.Pool
	fenced bool
}

func (h bankHandler) Handle(ctx context.Context, w bankWithdraw) (int64, error) {
	var balance int64
	if err := h.db.QueryRow(ctx, "SELECT balance FROM accounts WHERE id = $1", w.Account).Scan(&balance); err != nil {
		return 0, err
	}
	if balance < w.Cents {
		return balance, errInsufficient
	}
	var tag interface{ RowsAffected() int64 }
	var err error
	if h.fenced {
		lock, _ := locking.FromContext(ctx)
		tag, err = h.db.Exec(ctx, "UPDATE accounts SET balance = $2, fence = $3 WHERE id = $1 AND fence < $3",
			w.Account, balance-w.Cents, int64(lock.Token()))
	} else {
		tag, err = h.db.Exec(ctx, "UPDATE accounts SET balance = $2 WHERE id = $1", w.Account, balance-w.Cents)
	}
	if err != nil {
		return 0, err
	}
	if tag.RowsAffected() != 1 {
		return 0, errors.New("write refused by the fence")
	}
	return balance - w.Cents, nil
}

// bankInstance is one "instance" of the bank: its own application pool and
// mediator, locking (or not) on the shared database.
func bankInstance(t *testing.T, dsn string, lock bool) *mediator.Mediator {
	pool := newPool(t, dsn)
	provider := postgres.WithPostgresDistributedLockingFromDI()
	if !lock {
		// -no-lock: a provider that grants everything, and unfenced writes.
		provider = locking.WithDistributedLockProvider[*locking.NoOpProvider]()
	}
	return build(t,
		mediator.Provide(func() *pgxpool.Pool { return pool }),
		provider,
		locking.WithDistributedLocking[bankWithdraw, int64](),
		mediator.WithHandler[bankWithdraw, int64](func(db *pgxpool.Pool) bankHandler { return bankHandler{db, lock} }),
	)
}

// TestTwoBankInstancesPayExactlyTheBalance: 2,000 concurrent 1-cent
// withdrawals, split over two instances, against 1,000 cents pay exactly
// 1,000 and leave 0 with the locks in PostgreSQL; without the lock the same
// run pays more than it had (lost updates).
func TestTwoBankInstancesPayExactlyTheBalance(t *testing.T) {
	for _, lock := range []bool{true, false} {
		name := map[bool]string{true: "locked", false: "no-lock"}[lock]
		t.Run(name, func(t *testing.T) {
			dsn := database(t)
			ctx := ctxT(t)
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(ctx, `CREATE TABLE accounts (id text PRIMARY KEY, balance bigint NOT NULL, fence bigint NOT NULL DEFAULT 0);
				INSERT INTO accounts (id, balance) VALUES ('ann', 1000)`); err != nil {
				t.Fatal(err)
			}
			instances := []*mediator.Mediator{bankInstance(t, dsn, lock), bankInstance(t, dsn, lock)}
			const withdrawals = 2000
			var paid, refused atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			for i := range withdrawals {
				m := instances[i%2]
				wg.Go(func() {
					_, err := mediator.Send(ctx, m, bankWithdraw{Account: "ann", Cents: 1})
					switch {
					case err == nil:
						paid.Add(1)
					case errors.Is(err, errInsufficient):
						refused.Add(1)
					default:
						t.Error(err)
					}
				})
			}
			wg.Wait()
			var balance int64
			if err := conn.QueryRow(ctx, "SELECT balance FROM accounts WHERE id = 'ann'").Scan(&balance); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d paid, %d refused, balance %d, in %s", name, paid.Load(), refused.Load(), balance, time.Since(start))
			if lock {
				if paid.Load() != 1000 || balance != 0 {
					t.Fatalf("paid %d and left %d, want exactly 1000 and 0", paid.Load(), balance)
				}
			} else if paid.Load()+balance <= 1000 {
				t.Fatalf("without the lock no money was lost (paid %d, left %d): the check proves nothing", paid.Load(), balance)
			}
		})
	}
}
