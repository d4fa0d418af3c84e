package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/idempotency"
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
	// AppliedTTL is how long the record of an applied request with an
	// idempotency key is kept with the account data.
	AppliedTTL time.Duration
}

// requestFingerprint identifies a request by its type and fields, to tell a
// retry from another request reusing its idempotency key.
func requestFingerprint(req any) string {
	h := sha256.New()
	h.Write([]byte(reflect.TypeOf(req).String()))
	h.Write(mustJSON(req))
	return hex.EncodeToString(h.Sum(nil))
}

// mustJSON encodes v, which is one of the bank's own plain structs.
func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("bank: encoding %T: %v", v, err))
	}
	return data
}

// appliedBefore tells whether rec, the record Store.Load found for req's
// idempotency key, is that of an earlier run of req that took effect, and
// decodes its answer into out. The handlers load it under the account
// locks. The idempotency behavior answers retries of requests that
// finished; this catches the retry of one whose instance died between the
// write and that behavior's record.
func appliedBefore(rec *Applied, req any, out any) (bool, error) {
	if rec == nil {
		return false, nil
	}
	if rec.Request != requestFingerprint(req) {
		return false, &idempotency.ConflictError{Key: rec.Key}
	}
	if err := json.Unmarshal(rec.Response, out); err != nil {
		return false, fmt.Errorf("applied record %q: %w", rec.Key, err)
	}
	return true, nil
}

// applied is the record that lands with the effect of req, or nil when it
// has no key. resp is nil for a Create, whose answer the store completes.
func (b *Bank) applied(key string, req, resp any) *Applied {
	if key == "" {
		return nil
	}
	r := &Applied{Key: key, Request: requestFingerprint(req), TTL: b.AppliedTTL}
	if resp != nil {
		r.Response = mustJSON(resp)
	}
	return r
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
	var a Account
	if c.RequestKey != "" {
		_, rec, err := h.Store.Load(ctx, c.RequestKey)
		if err != nil {
			return a, err
		}
		if done, err := appliedBefore(rec, c, &a); done || err != nil {
			return a, err
		}
	}
	return h.Store.Create(ctx, c.Owner, c.Balance, h.applied(c.RequestKey, c, nil))
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

// Handle implements mediator.Handler: it reads one account more than the
// page holds, to know whether there is a next page.
func (h *ListAccountsHandler) Handle(ctx context.Context, q ListAccountsQuery) (AccountPage, error) {
	accts, err := h.Store.List(ctx, q.After, q.Limit+1)
	if err != nil {
		return AccountPage{}, err
	}
	page := AccountPage{Accounts: accts}
	if len(accts) > q.Limit {
		page.Accounts = accts[:q.Limit]
		page.NextCursor = page.Accounts[q.Limit-1].ID
	}
	return page, nil
}

// DepositHandler handles DepositCommand: read, add, write back.
type DepositHandler struct{ *Bank }

// NewDepositHandler is the handler's constructor for the container.
func NewDepositHandler(b *Bank) *DepositHandler { return &DepositHandler{b} }

// Handle implements mediator.Handler.
func (h *DepositHandler) Handle(ctx context.Context, c DepositCommand) (Account, error) {
	accts, rec, err := h.Store.Load(ctx, c.RequestKey, c.AccountID)
	if err != nil {
		return Account{}, err
	}
	a := accts[0]
	if done, err := appliedBefore(rec, c, &a); done || err != nil {
		return a, err
	}
	if a.Balance > math.MaxInt64-c.Amount {
		return Account{}, fmt.Errorf("%w: account %s", ErrBalanceOverflow, a.ID)
	}
	if err := h.work(ctx); err != nil {
		return Account{}, err
	}
	a.Balance += c.Amount
	if err := h.Store.Save(ctx, h.applied(c.RequestKey, c, a), Write{AccountID: a.ID, Balance: a.Balance, Fence: fence(ctx, a.ID)}); err != nil {
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
	var res WithdrawResult
	accts, rec, err := h.Store.Load(ctx, c.RequestKey, c.AccountID)
	if err != nil {
		return res, err
	}
	if done, err := appliedBefore(rec, c, &res); done || err != nil {
		return res, err
	}
	a := accts[0]
	if a.Balance < c.Amount {
		return WithdrawResult{}, insufficient(a, c.Amount)
	}
	if err := h.work(ctx); err != nil {
		return WithdrawResult{}, err
	}
	a.Balance -= c.Amount
	res = WithdrawResult{Balance: a.Balance}
	if err := h.Store.Save(ctx, h.applied(c.RequestKey, c, res), Write{AccountID: a.ID, Balance: a.Balance, Fence: fence(ctx, a.ID)}); err != nil {
		return WithdrawResult{}, err
	}
	return res, nil
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
	var res TransferResult
	accts, rec, err := h.Store.Load(ctx, c.RequestKey, c.From, c.To)
	if err != nil {
		return res, err
	}
	if done, err := appliedBefore(rec, c, &res); done || err != nil {
		return res, err
	}
	from, to := accts[0], accts[1]
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
	res = TransferResult{FromBalance: from.Balance, ToBalance: to.Balance}
	err = h.Store.Save(ctx, h.applied(c.RequestKey, c, res),
		Write{AccountID: from.ID, Balance: from.Balance, Fence: fence(ctx, from.ID)},
		Write{AccountID: to.ID, Balance: to.Balance, Fence: fence(ctx, to.ID)},
	)
	if err != nil {
		return TransferResult{}, err
	}
	return res, nil
}

// ErrStressBusy is returned by a stress run while another one is going on
// in the same instance (HTTP 429).
var ErrStressBusy = errors.New("a stress run is already going on in this instance, retry later")

// StressHandler handles StressCommand by sending Concurrent withdrawals
// through the mediator at once, as that many clients would. One run at a
// time per instance: running holds a token while one goes on.
type StressHandler struct {
	*Bank
	m       *mediator.Mediator
	running chan struct{}
}

// NewStressHandler is the handler's constructor for the container, which
// supplies the mediator the handler is registered in.
func NewStressHandler(b *Bank, m *mediator.Mediator) *StressHandler {
	return &StressHandler{Bank: b, m: m, running: make(chan struct{}, 1)}
}

// Handle implements mediator.Handler. Insufficient funds count as rejected,
// lock timeouts as contended; any other failure fails the whole call.
func (h *StressHandler) Handle(ctx context.Context, c StressCommand) (StressResult, error) {
	select {
	case h.running <- struct{}{}:
		defer func() { <-h.running }()
	default:
		return StressResult{}, ErrStressBusy
	}
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
