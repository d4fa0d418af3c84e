package main

import (
	"context"
	"fmt"
	"reflect"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// maxStressConcurrent bounds one stress call, so a single request cannot ask
// the server for millions of goroutines.
const maxStressConcurrent = 10_000

// InputError is a request the API refuses as it stands (HTTP 400).
type InputError struct{ Msg string }

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

// Validate implements Validator.
func (c CreateAccountCommand) Validate() error {
	if c.Owner == "" {
		return invalid("owner is required")
	}
	if c.Balance < 0 {
		return invalid("balance must not be negative")
	}
	return nil
}

// Validate implements Validator.
func (c DepositCommand) Validate() error { return positiveAmount(c.Amount) }

// Validate implements Validator.
func (c WithdrawCommand) Validate() error { return positiveAmount(c.Amount) }

// Validate implements Validator.
func (c TransferCommand) Validate() error {
	if c.From == "" || c.To == "" {
		return invalid("from and to are required")
	}
	if c.From == c.To {
		return invalid("from and to must be different accounts")
	}
	return positiveAmount(c.Amount)
}

// Validate implements Validator.
func (c StressCommand) Validate() error {
	if c.Concurrent < 1 || c.Concurrent > maxStressConcurrent {
		return invalid("concurrent must be between 1 and %d", maxStressConcurrent)
	}
	return positiveAmount(c.Amount)
}
