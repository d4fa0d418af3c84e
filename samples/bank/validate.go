package main

import (
	"context"
	"fmt"
	"reflect"
	"unicode"
	"unicode/utf8"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// Limits on what one request may ask for.
const (
	// maxStressConcurrent bounds one stress call, so a single request cannot
	// ask the server for millions of goroutines.
	maxStressConcurrent = 1_000
	// maxOwnerLength bounds an owner's name, in bytes.
	maxOwnerLength = 200
	// defaultPageLimit and maxPageLimit bound a page of GET /accounts.
	defaultPageLimit = 100
	maxPageLimit     = 1_000
)

// InputError is a request the API refuses as it stands (HTTP 400).
type InputError struct{ Msg string }

// Error is the reason given to the client.
func (e *InputError) Error() string { return e.Msg }

func invalid(format string, args ...any) error { return &InputError{Msg: fmt.Sprintf(format, args...)} }

// Validator is implemented by messages that can tell on their own whether
// they make sense.
type Validator interface{ Validate() error }

// validation checks every message that is a Validator before anything else
// runs. It is a global behavior, so it is outermost: a bad request is turned
// away before it waits for a lock.
type validation struct{}

func (validation) Handle(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
	if err := req.(Validator).Validate(); err != nil {
		return nil, err
	}
	return next(ctx, req)
}

var validatorType = reflect.TypeFor[Validator]()

// AppliesTo keeps validation off the pipelines of messages with nothing to
// check, which then pay nothing for it.
func (validation) AppliesTo(t mediator.MessageType) (bool, error) {
	return t.Type.Implements(validatorType), nil
}

func positiveAmount(amount int64) error {
	if amount <= 0 {
		return invalid("amount must be a positive number of cents")
	}
	return nil
}

// accountID refuses an id no account can have: longer than maxIDLength
// bytes. Such a request never reaches the store or a lock.
func accountID(what, id string) error {
	if len(id) > maxIDLength {
		return invalid("%s is longer than %d bytes", what, maxIDLength)
	}
	return nil
}

// Validate implements Validator.
func (c CreateAccountCommand) Validate() error {
	switch {
	case c.Owner == "":
		return invalid("owner is required")
	case len(c.Owner) > maxOwnerLength:
		return invalid("owner is longer than %d bytes", maxOwnerLength)
	case !utf8.ValidString(c.Owner):
		return invalid("owner is not valid UTF-8")
	}
	for _, r := range c.Owner {
		if unicode.IsControl(r) {
			return invalid("owner must not contain control characters")
		}
	}
	if c.Balance < 0 {
		return invalid("balance must not be negative")
	}
	return nil
}

// Validate implements Validator.
func (q GetAccountQuery) Validate() error { return accountID("account id", q.AccountID) }

// Validate implements Validator.
func (q ListAccountsQuery) Validate() error {
	if q.Limit < 1 || q.Limit > maxPageLimit {
		return invalid("limit must be between 1 and %d", maxPageLimit)
	}
	return accountID("cursor", q.After)
}

// Validate implements Validator.
func (c DepositCommand) Validate() error {
	if err := accountID("account id", c.AccountID); err != nil {
		return err
	}
	return positiveAmount(c.Amount)
}

// Validate implements Validator.
func (c WithdrawCommand) Validate() error {
	if err := accountID("account id", c.AccountID); err != nil {
		return err
	}
	return positiveAmount(c.Amount)
}

// Validate implements Validator.
func (c TransferCommand) Validate() error {
	if c.From == "" || c.To == "" {
		return invalid("from and to are required")
	}
	if err := accountID("from", c.From); err != nil {
		return err
	}
	if err := accountID("to", c.To); err != nil {
		return err
	}
	if c.From == c.To {
		return invalid("from and to must be different accounts")
	}
	return positiveAmount(c.Amount)
}

// Validate implements Validator.
func (c StressCommand) Validate() error {
	if err := accountID("account id", c.AccountID); err != nil {
		return err
	}
	if c.Concurrent < 1 || c.Concurrent > maxStressConcurrent {
		return invalid("concurrent must be between 1 and %d", maxStressConcurrent)
	}
	return positiveAmount(c.Amount)
}

// accountRefs is implemented by the commands that move an account's money.
type accountRefs interface{ AccountIDs() []string }

var accountRefsType = reflect.TypeFor[accountRefs]()

// existence answers 404 for an account that does not exist before the
// request goes any further: no idempotency record, no lock, and so no lock
// state (the Redis provider's fencing counter) is ever made for an id that
// names nothing. It runs after validation, which has bounded the ids.
// Accounts are never deleted, so an account found here is still there once
// the lock is held.
type existence struct{ bank *Bank }

func newExistence(b *Bank) *existence { return &existence{bank: b} }

func (e *existence) Handle(ctx context.Context, req any, next mediator.AnyNext) (any, error) {
	if _, _, err := e.bank.Store.Load(ctx, "", req.(accountRefs).AccountIDs()...); err != nil {
		return nil, err
	}
	return next(ctx, req)
}

// AppliesTo keeps the check to the commands that name accounts.
func (*existence) AppliesTo(t mediator.MessageType) (bool, error) {
	return t.Type.Implements(accountRefsType), nil
}
