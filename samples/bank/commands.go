package main

import (
	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/mediator"
)

// lockPrefix is the one key prefix of every account lock. Withdraw, deposit
// and transfer share it, so any two of them on the same account exclude each
// other (the .NET sample gave each command its own prefix, which let a
// transfer and a withdrawal on one account interleave).
const lockPrefix = "account"

// accountLockKey is the full lock key of an account, as locking.HandleFor
// wants it.
func accountLockKey(id string) string { return lockPrefix + ":" + id }

// CreateAccountCommand opens an account. It needs no lock: nobody else can
// know the new id yet.
type CreateAccountCommand struct {
	mediator.Command[Account]
	Owner   string
	Balance int64
	// RequestKey is the client's Idempotency-Key ("" for none).
	RequestKey string
}

// IdempotencyKey implements idempotency.Keyed.
func (c CreateAccountCommand) IdempotencyKey() string { return c.RequestKey }

// GetAccountQuery reads one account.
type GetAccountQuery struct {
	mediator.Query[Account]
	AccountID string
}

// ListAccountsQuery reads one page of accounts, in id order.
type ListAccountsQuery struct {
	mediator.Query[AccountPage]
	// After is the cursor: the last id of the previous page, "" for the
	// first page.
	After string
	// Limit is the page size, 1..maxPageLimit.
	Limit int
}

// AccountPage is one page of GET /accounts. NextCursor, when not empty, is
// the cursor of the next page.
type AccountPage struct {
	Accounts   []Account `json:"accounts"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// DepositCommand adds money to an account under the account's lock.
type DepositCommand struct {
	mediator.Command[Account]
	locking.DistributedLock `lock:"prefix=account,timeout=10s"`
	AccountID               string
	Amount                  int64
	RequestKey              string
}

// LockKey scopes the lock to one account, so deposits to different accounts
// run in parallel.
func (c DepositCommand) LockKey() string { return c.AccountID }

// IdempotencyKey implements idempotency.Keyed.
func (c DepositCommand) IdempotencyKey() string { return c.RequestKey }

// AccountIDs implements accountRefs.
func (c DepositCommand) AccountIDs() []string { return []string{c.AccountID} }

// WithdrawResult is the balance left after a withdrawal.
type WithdrawResult struct {
	Balance int64 `json:"balance"`
}

// WithdrawCommand takes money out of an account under the account's lock.
type WithdrawCommand struct {
	mediator.Command[WithdrawResult]
	locking.DistributedLock `lock:"prefix=account,timeout=10s"`
	AccountID               string
	Amount                  int64
	RequestKey              string
}

// LockKey scopes the lock to one account.
func (c WithdrawCommand) LockKey() string { return c.AccountID }

// IdempotencyKey implements idempotency.Keyed.
func (c WithdrawCommand) IdempotencyKey() string { return c.RequestKey }

// AccountIDs implements accountRefs.
func (c WithdrawCommand) AccountIDs() []string { return []string{c.AccountID} }

// TransferResult is the two balances after a transfer.
type TransferResult struct {
	FromBalance int64 `json:"from_balance"`
	ToBalance   int64 `json:"to_balance"`
}

// TransferCommand moves money between two accounts, holding both accounts'
// locks. The locking behavior takes the keys in sorted order, so a transfer
// from A to B and one from B to A cannot deadlock.
type TransferCommand struct {
	mediator.Command[TransferResult]
	locking.DistributedLock `lock:"prefix=account,timeout=10s"`
	From                    string
	To                      string
	Amount                  int64
	RequestKey              string
}

// LockKeys locks both accounts.
func (c TransferCommand) LockKeys() []string { return []string{c.From, c.To} }

// IdempotencyKey implements idempotency.Keyed.
func (c TransferCommand) IdempotencyKey() string { return c.RequestKey }

// AccountIDs implements accountRefs.
func (c TransferCommand) AccountIDs() []string { return []string{c.From, c.To} }

// StressResult counts what happened to the withdrawals of one stress run.
type StressResult struct {
	Succeeded int   `json:"succeeded"`
	Rejected  int   `json:"rejected"`
	Contended int   `json:"contended"`
	Balance   int64 `json:"balance"`
}

// StressCommand fires Concurrent withdrawals of Amount at one account at the
// same time, each through the mediator, to show the lock at work from one
// HTTP call. It takes no lock itself: its withdrawals do.
type StressCommand struct {
	mediator.Command[StressResult]
	AccountID  string
	Concurrent int
	Amount     int64
	RequestKey string
}

// IdempotencyKey implements idempotency.Keyed.
func (c StressCommand) IdempotencyKey() string { return c.RequestKey }

// AccountIDs implements accountRefs.
func (c StressCommand) AccountIDs() []string { return []string{c.AccountID} }
