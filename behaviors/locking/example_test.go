package locking_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
	"github.com/turbomediator/turbomediator-go/providers/memory"
)

// WithdrawCommand is DESIGN.md's example: at most one withdrawal per account
// at a time, waiting up to 10s for the account's lock.
type WithdrawCommand struct {
	mediator.Command[WithdrawResult]
	locking.DistributedLock `lock:"timeout=10s"`
	AccountID               string
	Amount                  int64 // cents
}

// LockKey scopes the lock to one account.
func (c WithdrawCommand) LockKey() string { return c.AccountID }

type WithdrawResult struct{ Balance int64 }

var errInsufficientFunds = errors.New("insufficient funds")

// withdrawHandler reads, checks and writes a balance: the read-modify-write
// the lock protects.
type withdrawHandler struct{ balances map[string]int64 }

func (h *withdrawHandler) Handle(ctx context.Context, c WithdrawCommand) (WithdrawResult, error) {
	lock, _ := locking.FromContext(ctx)
	fmt.Println("holding", lock.Key())
	balance := h.balances[c.AccountID]
	if balance < c.Amount {
		return WithdrawResult{Balance: balance}, errInsufficientFunds
	}
	h.balances[c.AccountID] = balance - c.Amount
	return WithdrawResult{Balance: balance - c.Amount}, nil
}

func ExampleWithDistributedLocking() {
	m, err := mediator.New(
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[WithdrawCommand, WithdrawResult](),
		mediator.WithHandler[WithdrawCommand, WithdrawResult](&withdrawHandler{balances: map[string]int64{"42": 1000}}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := mediator.Send(context.Background(), m, WithdrawCommand{AccountID: "42", Amount: 250})
	fmt.Println(res.Balance, err)
	// Output:
	// holding WithdrawCommand:42
	// 750 <nil>
}

func ExampleWithDistributedLocking_options() {
	m, err := mediator.NewBuilder().
		With(memory.WithInMemoryDistributedLocking()).
		With(locking.WithDistributedLocking[WithdrawCommand, WithdrawResult](func(o *locking.Options) {
			o.DefaultTimeout = 0 // one try: fail at once when the account is busy
			o.GlobalKeyPrefix = "myapp"
		})).
		With(mediator.WithHandler[WithdrawCommand, WithdrawResult](&withdrawHandler{balances: map[string]int64{"42": 1000}})).
		Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = mediator.Send(context.Background(), m, WithdrawCommand{AccountID: "42", Amount: 5000})
	fmt.Println(err)
	// Output:
	// holding myapp:WithdrawCommand:42
	// insufficient funds
}

// A lock that stays taken is an error that says which key and how long the
// caller was prepared to wait.
func ExampleError() {
	p := memory.New()
	m, _ := mediator.New(
		locking.WithDistributedLockProvider[*memory.Provider](func() *memory.Provider { return p }),
		locking.WithDistributedLocking[WithdrawCommand, WithdrawResult](func(o *locking.Options) { o.DefaultTimeout = 0 }),
		mediator.WithHandler[WithdrawCommand, WithdrawResult](&withdrawHandler{balances: map[string]int64{"42": 1000}}),
	)
	// Someone else (another instance, say) holds the account.
	held, _ := p.TryAcquire(context.Background(), "WithdrawCommand:42", 0)
	defer held.Release(context.Background())

	_, err := mediator.Send(context.Background(), m, WithdrawCommand{AccountID: "42", Amount: 1})
	var lockErr *locking.Error
	if errors.As(err, &lockErr) {
		fmt.Println(lockErr.Key, lockErr.Timeout, errors.Is(err, locking.ErrNotAcquired))
	}
	// Output:
	// WithdrawCommand:42 0s true
}

// TransferCommand locks both accounts; LockKeys takes them in sorted order,
// so opposite transfers cannot deadlock.
type TransferCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"prefix=account"`
	From, To                string
	Amount                  int64
}

func (c TransferCommand) LockKeys() []string { return []string{c.From, c.To} }

func ExampleAllFromContext() {
	m, _ := mediator.New(
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[TransferCommand, mediator.Unit](),
		mediator.WithHandler[TransferCommand, mediator.Unit](func(ctx context.Context, c TransferCommand) (mediator.Unit, error) {
			for _, h := range locking.AllFromContext(ctx) {
				fmt.Println("holding", h.Key())
			}
			first, _ := locking.FromContext(ctx)
			fmt.Println("first", first.Key())
			return mediator.Unit{}, nil
		}),
	)
	_, err := mediator.Send(context.Background(), m, TransferCommand{From: "B", To: "A", Amount: 100})
	fmt.Println(err)
	// Output:
	// holding account:A
	// holding account:B
	// first account:A
	// <nil>
}

// A handler's unit test needs the pipeline, not real locks: the no-op
// provider grants everything at once.
func ExampleWithNoOpLocking() {
	m, _ := mediator.New(
		locking.WithNoOpLocking(),
		locking.WithDistributedLocking[WithdrawCommand, WithdrawResult](),
		mediator.WithHandler[WithdrawCommand, WithdrawResult](&withdrawHandler{balances: map[string]int64{"7": 100}}),
	)
	res, err := mediator.Send(context.Background(), m, WithdrawCommand{AccountID: "7", Amount: 30})
	fmt.Println(res.Balance, err)
	// Output:
	// holding WithdrawCommand:7
	// 70 <nil>
}

// An observer turns lock outcomes into metrics.
func ExampleWithObserver() {
	m, _ := mediator.New(
		locking.WithNoOpLocking(),
		locking.WithObserver(locking.ObserverFunc(func(e locking.LockEvent) {
			fmt.Println(e.Outcome, e.Prefix, e.Key)
		})),
		locking.WithDistributedLocking[WithdrawCommand, WithdrawResult](),
		mediator.WithHandler[WithdrawCommand, WithdrawResult](&withdrawHandler{balances: map[string]int64{"7": 100}}),
	)
	_, _ = mediator.Send(context.Background(), m, WithdrawCommand{AccountID: "7", Amount: 30})
	// Output:
	// acquired WithdrawCommand WithdrawCommand:7
	// holding WithdrawCommand:7
	// released WithdrawCommand WithdrawCommand:7
}

// fencedStore refuses a write whose fencing token is older than one it has
// already accepted for the same account: a holder that lost its lock without
// noticing cannot overwrite newer data.
type fencedStore struct {
	balances map[string]int64
	tokens   map[string]uint64
}

func (s *fencedStore) write(account string, balance int64, token uint64) error {
	if token < s.tokens[account] {
		return fmt.Errorf("stale write to %s refused", account)
	}
	s.tokens[account], s.balances[account] = token, balance
	return nil
}

func ExampleFromContext() {
	store := &fencedStore{balances: map[string]int64{"42": 1000}, tokens: map[string]uint64{}}
	m, _ := mediator.New(
		memory.WithInMemoryDistributedLocking(),
		locking.WithDistributedLocking[WithdrawCommand, WithdrawResult](),
		mediator.WithHandler[WithdrawCommand, WithdrawResult](func(ctx context.Context, c WithdrawCommand) (WithdrawResult, error) {
			lock, _ := locking.FromContext(ctx)
			balance := store.balances[c.AccountID] - c.Amount
			if err := store.write(c.AccountID, balance, lock.Token()); err != nil {
				return WithdrawResult{}, err
			}
			return WithdrawResult{Balance: balance}, nil
		}),
	)
	res, err := mediator.Send(context.Background(), m, WithdrawCommand{AccountID: "42", Amount: 100})
	fmt.Println(res.Balance, err)
	// A late write from an earlier holder, with a smaller token:
	fmt.Println(store.write("42", 1000, 0))
	// Output:
	// 900 <nil>
	// stale write to 42 refused
}

// ReportCommand has no key: one report runs at a time across the whole
// deployment, and a second one does not wait for the first.
type ReportCommand struct {
	mediator.Command[mediator.Unit]
	locking.DistributedLock `lock:"timeout=0,throw=false"`
}

// StatusQuery carries no marker: the global registration leaves it alone.
type StatusQuery struct {
	mediator.Query[bool]
}

func ExampleWithGlobalDistributedLocking() {
	m, _ := mediator.New(
		memory.WithInMemoryDistributedLocking(),
		locking.WithGlobalDistributedLocking(func(o *locking.Options) { o.GlobalKeyPrefix = "myapp" }),
		mediator.WithHandler[ReportCommand, mediator.Unit](func(ctx context.Context, _ ReportCommand) (mediator.Unit, error) {
			lock, _ := locking.FromContext(ctx)
			fmt.Println("report under", lock.Key())
			return mediator.Unit{}, nil
		}),
		mediator.WithHandler[StatusQuery, bool](func(ctx context.Context, _ StatusQuery) (bool, error) {
			_, locked := locking.FromContext(ctx)
			return locked, nil
		}),
	)
	_, err := mediator.Send(context.Background(), m, ReportCommand{})
	fmt.Println(err)
	locked, _ := mediator.Send(context.Background(), m, StatusQuery{})
	fmt.Println("status locked:", locked)
	// Output:
	// report under myapp:ReportCommand
	// <nil>
	// status locked: false
}
