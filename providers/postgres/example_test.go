package postgres_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/postgres"
)

// These examples need a PostgreSQL server, so they are compiled but not run;
// the tests run the same flows against a throwaway cluster of their own.

type WithdrawCommand struct {
	mediator.Command[int64]
	locking.DistributedLock `lock:"prefix=account,timeout=5s"`
	AccountID               string
	Amount                  int64
}

func (c WithdrawCommand) LockKey() string { return c.AccountID }

// WithdrawHandler moves money with the lock's fencing token guarding the
// write: a holder that lost its lock (and whose token a later holder's write
// has overtaken) changes nothing.
type WithdrawHandler struct{ db *pgxpool.Pool }

func (h WithdrawHandler) Handle(ctx context.Context, c WithdrawCommand) (int64, error) {
	lock, _ := locking.FromContext(ctx)
	var balance int64
	err := h.db.QueryRow(ctx, `UPDATE accounts SET balance = balance - $2, fence = $3
		WHERE id = $1 AND balance >= $2 AND fence < $3 RETURNING balance`,
		c.AccountID, c.Amount, int64(lock.Token())).Scan(&balance)
	return balance, err
}

func ExampleWithPostgresDistributedLocking() {
	m, err := mediator.New(
		postgres.WithPostgresDistributedLocking("postgres://app@localhost:5432/bank", func(o *postgres.Options) {
			o.KeyPrefix = "bank:"
			o.MaxConns = 16 // at most 16 locks held (or keys waited for) at once
		}),
		locking.WithDistributedLocking[WithdrawCommand, int64](),
		mediator.WithHandler[WithdrawCommand, int64](func(ctx context.Context, c WithdrawCommand) (int64, error) {
			return 0, nil
		}),
	)
	if errors.Is(err, locking.ErrUnavailable) {
		fmt.Println("PostgreSQL does not answer:", err)
		return
	}
	if err != nil {
		panic(err)
	}
	defer m.Close(context.Background()) // releases every lock, closes the provider's connections

	_, err = mediator.Send(context.Background(), m, WithdrawCommand{AccountID: "42", Amount: 100})
	var contended *locking.Error
	switch {
	case errors.As(err, &contended):
		fmt.Println("account busy:", contended.Key)
	case errors.Is(err, locking.ErrUnavailable):
		fmt.Println("lock database down:", err)
	}
}

func ExampleWithPostgresDistributedLockingFromDI() {
	pool, err := pgxpool.New(context.Background(), "postgres://app@localhost:5432/bank")
	if err != nil {
		panic(err)
	}
	defer pool.Close() // the application's pool: the mediator leaves it open

	m, err := mediator.New(
		mediator.Provide(func() *pgxpool.Pool { return pool }),
		// The provider copies the pool's settings and opens connections of
		// its own: held locks never take the handlers' connections.
		postgres.WithPostgresDistributedLockingFromDI(),
		locking.WithDistributedLocking[WithdrawCommand, int64](),
		mediator.WithHandler[WithdrawCommand, int64](func(db *pgxpool.Pool) WithdrawHandler { return WithdrawHandler{db} }),
	)
	if err != nil {
		panic(err)
	}
	defer m.Close(context.Background())
	balance, err := mediator.Send(context.Background(), m, WithdrawCommand{AccountID: "42", Amount: 100})
	fmt.Println(balance, err)
}

// ExampleProvider_Inspect asks who holds an account's lock: another process
// of the application, say, that has held it for a while.
func ExampleProvider_Inspect() {
	p, err := postgres.New("postgres://app@localhost:5432/bank", &postgres.Options{Instance: "bank-debug"})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	info, err := p.Inspect(context.Background(), "account:42")
	switch {
	case errors.Is(err, locking.ErrUnavailable):
		fmt.Println("PostgreSQL does not answer:", err)
	case err != nil:
		panic(err)
	case info.Held:
		fmt.Printf("held by %s for %s (%s, token %d)\n",
			info.Holder.Instance, info.HeldFor, info.Holder.MessageType, info.Token)
	default:
		fmt.Println("free")
	}
}
