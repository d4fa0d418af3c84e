package mediator_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// GetBalance is a query: the marker fixes its response type, int64.
type GetBalance struct {
	mediator.Query[int64]
	AccountID string
}

type GetBalanceHandler struct{ balances map[string]int64 }

func (h GetBalanceHandler) Handle(_ context.Context, q GetBalance) (int64, error) {
	return h.balances[q.AccountID], nil
}

// The README's quick start: one query, one handler, one Send.
func ExampleSend() {
	m, err := mediator.New(
		mediator.WithHandler[GetBalance, int64](GetBalanceHandler{balances: map[string]int64{"42": 1000}}),
	)
	if err != nil {
		panic(err)
	}
	// Send infers the response type, int64, from GetBalance's marker.
	balance, err := mediator.Send(context.Background(), m, GetBalance{AccountID: "42"})
	fmt.Println(balance, err)
	// Output: 1000 <nil>
}

// A request type nobody handles is an error, never a panic; T and *T are
// different types, and the error says when the other one has a handler.
func ExampleNoHandlerError() {
	m, err := mediator.New(
		mediator.WithHandler[GetBalance, int64](GetBalanceHandler{}),
	)
	if err != nil {
		panic(err)
	}
	_, err = mediator.Send(context.Background(), m, &GetBalance{AccountID: "42"})
	var nh *mediator.NoHandlerError
	fmt.Println(errors.Is(err, mediator.ErrNoHandler), errors.As(err, &nh), nh.Type)
	fmt.Println(err)
	// Output:
	// true true *mediator_test.GetBalance
	// mediator: no handler for *mediator_test.GetBalance (a handler is registered for the value type mediator_test.GetBalance: send the value, not a pointer)
}

// Accounts is an application service that handlers get from the container.
type Accounts struct{ balances map[string]int64 }

func NewAccounts() *Accounts { return &Accounts{balances: map[string]int64{"42": 1000}} }

// Deposit is a command answering with the new balance.
type Deposit struct {
	mediator.Command[int64]
	AccountID string
	Amount    int64
}

type DepositHandler struct{ accounts *Accounts }

// NewDepositHandler is a constructor: Build calls it once, and dig supplies
// its *Accounts.
func NewDepositHandler(a *Accounts) *DepositHandler { return &DepositHandler{accounts: a} }

func (h *DepositHandler) Handle(_ context.Context, d Deposit) (int64, error) {
	if d.Amount <= 0 {
		return 0, fmt.Errorf("deposit of %d: amount must be positive", d.Amount)
	}
	h.accounts.balances[d.AccountID] += d.Amount
	return h.accounts.balances[d.AccountID], nil
}

// The fluent form: With takes any number of options; Build applies them in
// order.
func ExampleNewBuilder() {
	m, err := mediator.NewBuilder().
		With(mediator.Provide(NewAccounts)).
		With(mediator.WithHandler[Deposit, int64](NewDepositHandler)).
		With(mediator.WithHandler[GetBalance, int64](func(_ context.Context, q GetBalance) (int64, error) {
			return -1, nil // a plain function is a handler too
		})).
		Build()
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	fmt.Println(mediator.Send(ctx, m, Deposit{AccountID: "42", Amount: 250}))
	fmt.Println(mediator.Send(ctx, m, Deposit{AccountID: "42", Amount: -5}))
	fmt.Println(mediator.Send(ctx, m, GetBalance{AccountID: "42"}))
	// Output:
	// 1250 <nil>
	// 0 deposit of -5: amount must be positive
	// -1 <nil>
}

// A constructor's dependencies come from the container: Provide puts the
// application's own services there.
func ExampleProvide() {
	m, err := mediator.New(
		mediator.Provide(NewAccounts),
		mediator.WithHandler[Deposit, int64](NewDepositHandler),
	)
	if err != nil {
		panic(err)
	}
	balance, err := mediator.Send(context.Background(), m, Deposit{AccountID: "42", Amount: 50})
	fmt.Println(balance, err)

	// Without the provider, Build says what is missing and for whom.
	_, err = mediator.New(mediator.WithHandler[Deposit, int64](NewDepositHandler))
	var be *mediator.BuildError
	fmt.Println(errors.As(err, &be), len(be.Problems))
	// Output:
	// 1050 <nil>
	// true 1
}

func enterExit(name string) mediator.BehaviorFunc[Deposit, int64] {
	return func(ctx context.Context, d Deposit, next mediator.Next[Deposit, int64]) (int64, error) {
		fmt.Println("enter", name)
		defer fmt.Println("exit", name)
		return next(ctx, d)
	}
}

func globalEnterExit(name string) mediator.GlobalBehaviorFunc {
	return func(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
		fmt.Println("enter global", name)
		defer fmt.Println("exit global", name)
		return next(ctx, req)
	}
}

// The order of behaviors: global behaviors are outermost, then the type's
// own; in each group the first registered is the outermost. The options are
// interleaved here on purpose: the grouping decides, not the interleaving.
func ExampleWithBehavior() {
	m, err := mediator.New(
		mediator.Provide(NewAccounts),
		mediator.WithBehavior[Deposit, int64](enterExit("validate")),
		mediator.WithGlobalBehavior(globalEnterExit("logging")),
		mediator.WithHandler[Deposit, int64](NewDepositHandler),
		mediator.WithBehavior[Deposit, int64](enterExit("retry")),
		mediator.WithGlobalBehavior(globalEnterExit("metrics")),
	)
	if err != nil {
		panic(err)
	}
	balance, err := mediator.Send(context.Background(), m, Deposit{AccountID: "42", Amount: 1})
	fmt.Println(balance, err)
	// Output:
	// enter global logging
	// enter global metrics
	// enter validate
	// enter retry
	// exit retry
	// exit validate
	// exit global metrics
	// exit global logging
	// 1001 <nil>
}

// AccountOpened is a notification: Publish delivers it to every handler of
// its type.
type AccountOpened struct {
	mediator.Notification
	AccountID string
}

func ExamplePublish() {
	m, err := mediator.New(
		mediator.WithNotificationHandler[AccountOpened](func(_ context.Context, e AccountOpened) error {
			fmt.Println("send welcome mail for", e.AccountID)
			return nil
		}),
		mediator.WithNotificationHandler[AccountOpened](func(_ context.Context, e AccountOpened) error {
			return errors.New("audit log is full")
		}),
		mediator.WithNotificationHandler[AccountOpened](func(_ context.Context, e AccountOpened) error {
			fmt.Println("open a savings pot for", e.AccountID)
			return nil
		}),
	)
	if err != nil {
		panic(err)
	}
	// Sequential (the default): every handler runs, in registration order,
	// and their errors are joined.
	err = mediator.Publish(context.Background(), m, AccountOpened{AccountID: "42"})
	fmt.Println("error:", err)
	// Output:
	// send welcome mail for 42
	// open a savings pot for 42
	// error: audit log is full
}
