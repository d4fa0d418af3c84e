package main

import "errors"

// Account is one bank account. Money is always an integer number of cents so
// that no rounding can create or destroy any.
type Account struct {
	ID      string `json:"id"`
	Owner   string `json:"owner"`
	Balance int64  `json:"balance"`
}

// ErrAccountNotFound is returned for an account id the store does not hold.
var ErrAccountNotFound = errors.New("account not found")

// ErrInsufficientFunds is returned by a withdrawal or transfer that would
// take the balance below zero.
var ErrInsufficientFunds = errors.New("insufficient funds")

// ErrBalanceOverflow is returned by a deposit or transfer that would take a
// balance past what an int64 of cents holds.
var ErrBalanceOverflow = errors.New("balance would overflow")

// ErrStaleWrite is returned by Store.Save when a write carries a fencing
// token older than one already written for the account: its lock was lost
// and someone else has since held it, so the write must not land.
var ErrStaleWrite = errors.New("stale write refused: the lock was taken over by a newer holder")

// ErrStoreUnavailable is returned (wrapping the cause) when the store cannot
// be reached, so the HTTP layer can answer 503 rather than 500.
var ErrStoreUnavailable = errors.New("account store unavailable")
