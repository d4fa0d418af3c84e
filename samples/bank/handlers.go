package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// Bank is what every handler shares: the store and the artificial delay.
// The container hands it to the handler constructors.
type Bank struct {
	Store Store
	// Work is slept between reading an account and writing it back; it
	// stands for real work and widens the window in which an unlocked
	// concurrent request can slip in.
	Work time.Duration
}

// work waits b.Work, or less if ctx ends first.
func (b *Bank) work(ctx context.Context) error {
	if b.Work <= 0 {
		return nil
	}
	t := time.NewTimer(b.Work)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// fence returns the fencing token of the account's lock held by this call,
// or 0 when it runs without one (-no-lock).
func fence(ctx context.Context, accountID string) uint64 {
	if h, ok := locking.HandleFor(ctx, accountLockKey(accountID)); ok {
		return h.Token()
	}
	return 0
}

// CreateAccountHandler handles CreateAccountCommand.
type CreateAccountHandler struct{ *Bank }

// NewCreateAccountHandler is the handler's constructor for the container.
func NewCreateAccountHandler(b *Bank) *CreateAccountHandler { return &CreateAccountHandler{b} }

// Handle implements mediator.Handler.
func (h *CreateAccountHandler) Handle(ctx context.Context, c CreateAccountCommand) (Account, error) {
	return h.Store.Create(ctx, c.Owner, c.Balance)
}

// GetAccountHandler handles GetAccountQuery.
type GetAccountHandler struct{ *Bank }

// NewGetAccountHandler is the handler's constructor for the container.
func NewGetAccountHandler(b *Bank) *GetAccountHandler { return &GetAccountHandler{b} }

// Handle implements mediator.Handler.
func (h *GetAccountHandler) Handle(ctx context.Context, q GetAccountQuery) (Account, error) {
	return h.Store.Get(ctx, q.AccountID)
}

// ListAccountsHandler handles ListAccountsQuery.
type ListAccountsHandler struct{ *Bank }

// NewListAccountsHandler is the handler's constructor for the container.
func NewListAccountsHandler(b *Bank) *ListAccountsHandler { return &ListAccountsHandler{b} }

// Handle implements mediator.Handler.
func (h *ListAccountsHandler) Handle(ctx context.Context, _ ListAccountsQuery) ([]Account, error) {
	return h.Store.List(ctx)
}

// DepositHandler handles DepositCommand: read, add, write back.
type DepositHandler struct{ *Bank }

// NewDepositHandler is the handler's constructor for the container.
func NewDepositHandler(b *Bank) *DepositHandler { return &DepositHandler{b} }

// Handle implements mediator.Handler.
func (h *DepositHandler) Handle(ctx context.Context, c DepositCommand) (Account, error) {
	a, err := h.Store.Get(ctx, c.AccountID)
	if err != nil {
		return Account{}, err
	}
	if a.Balance > math.MaxInt64-c.Amount {
		return Account{}, fmt.Errorf("%w: account %s", ErrBalanceOverflow, a.ID)
	}
	if err := h.work(ctx); err != nil {
		return Account{}, err
	}
	a.Balance += c.Amount
	if err := h.Store.Save(ctx, Write{AccountID: a.ID, Balance: a.Balance, Fence: fence(ctx, a.ID)}); err != nil {
		return Account{}, err
	}
	return a, nil
}

// WithdrawHandler handles WithdrawCommand: read, check, subtract, write back.
type WithdrawHandler struct{ *Bank }

// NewWithdrawHandler is the handler's constructor for the container.
func NewWithdrawHandler(b *Bank) *WithdrawHandler { return &WithdrawHandler{b} }

// Handle implements mediator.Handler.
func (h *WithdrawHandler) Handle(ctx context.Context, c WithdrawCommand) (WithdrawResult, error) {
	a, err := h.Store.Get(ctx, c.AccountID)
	if err != nil {
		return WithdrawResult{}, err
	}
	if a.Balance < c.Amount {
		return WithdrawResult{}, insufficient(a, c.Amount)
	}
	if err := h.work(ctx); err != nil {
		return WithdrawResult{}, err
	}
	a.Balance -= c.Amount
	if err := h.Store.Save(ctx, Write{AccountID: a.ID, Balance: a.Balance, Fence: fence(ctx, a.ID)}); err != nil {
		return WithdrawResult{}, err
	}
	return WithdrawResult{Balance: a.Balance}, nil
}

func insufficient(a Account, amount int64) error {
	return fmt.Errorf("%w: account %s has %d cents, %d requested", ErrInsufficientFunds, a.ID, a.Balance, amount)
}

// TransferHandler handles TransferCommand: both accounts are read, changed
// and written back in one atomic Save, each write fenced by its own lock.
type TransferHandler struct{ *Bank }

// NewTransferHandler is the handler's constructor for the container.
func NewTransferHandler(b *Bank) *TransferHandler { return &TransferHandler{b} }

// Handle implements mediator.Handler.
func (h *TransferHandler) Handle(ctx context.Context, c TransferCommand) (TransferResult, error) {
	from, err := h.Store.Get(ctx, c.From)
	if err != nil {
		return TransferResult{}, err
	}
	to, err := h.Store.Get(ctx, c.To)
	if err != nil {
		return TransferResult{}, err
	}
	if from.Balance < c.Amount {
		return TransferResult{}, insufficient(from, c.Amount)
	}
	if to.Balance > math.MaxInt64-c.Amount {
		return TransferResult{}, fmt.Errorf("%w: account %s", ErrBalanceOverflow, to.ID)
	}
	if err := h.work(ctx); err != nil {
		return TransferResult{}, err
	}
	from.Balance -= c.Amount
	to.Balance += c.Amount
	err = h.Store.Save(ctx,
		Write{AccountID: from.ID, Balance: from.Balance, Fence: fence(ctx, from.ID)},
		Write{AccountID: to.ID, Balance: to.Balance, Fence: fence(ctx, to.ID)},
	)
	if err != nil {
		return TransferResult{}, err
	}
	return TransferResult{FromBalance: from.Balance, ToBalance: to.Balance}, nil
}

// StressHandler handles StressCommand by sending Concurrent withdrawals
// through the mediator at once, as that many clients would.
type StressHandler struct {
	*Bank
	m *mediator.Mediator
}

// NewStressHandler is the handler's constructor for the container, which
// supplies the mediator the handler is registered in.
func NewStressHandler(b *Bank, m *mediator.Mediator) *StressHandler {
	return &StressHandler{Bank: b, m: m}
}

// Handle implements mediator.Handler. Insufficient funds count as rejected,
// lock timeouts as contended; any other failure fails the whole call.
func (h *StressHandler) Handle(ctx context.Context, c StressCommand) (StressResult, error) {
	if _, err := h.Store.Get(ctx, c.AccountID); err != nil {
		return StressResult{}, err
	}
	var (
		mu     sync.Mutex
		res    StressResult
		failed []error
		wg     sync.WaitGroup
	)
	start := make(chan struct{})
	for range c.Concurrent {
		wg.Go(func() {
			<-start // all goroutines exist before the first withdrawal
			_, err := mediator.Send(ctx, h.m, WithdrawCommand{AccountID: c.AccountID, Amount: c.Amount})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				res.Succeeded++
			case errors.Is(err, ErrInsufficientFunds):
				res.Rejected++
			case errors.Is(err, locking.ErrNotAcquired):
				res.Contended++
			default:
				failed = append(failed, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(failed) > 0 {
		return StressResult{}, fmt.Errorf("%d of %d withdrawals failed: %w", len(failed), c.Concurrent, failed[0])
	}
	a, err := h.Store.Get(ctx, c.AccountID)
	if err != nil {
		return StressResult{}, err
	}
	res.Balance = a.Balance
	return res, nil
}
