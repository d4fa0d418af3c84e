package idempotency

import (
	"errors"
	"fmt"
)

// ErrKeyReused is reported (wrapped in [*ConflictError]) when a key already
// used for one request comes back with a different request.
var ErrKeyReused = errors.New("idempotency: key reused with a different request")

// ErrInProgress is reported (wrapped in [*InProgressError]) when a request
// with the same key is still being handled: retry later for its answer.
var ErrInProgress = errors.New("idempotency: a request with this key is in progress")

// ErrUnavailable is wrapped, with its cause, by the error of a Send whose
// key could not be checked because the [Store] failed. The handler did not
// run.
var ErrUnavailable = errors.New("idempotency: store unavailable")

// ErrNoStore fails Build when [WithIdempotency] is registered without a
// [Store] in the container.
var ErrNoStore = errors.New("idempotency: no store registered")

// ConflictError names a key that was reused with a different request.
type ConflictError struct {
	Key string
}

// Error names the key that was reused for a different request.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("idempotency: key %q was used for a different request", e.Key)
}

// Unwrap makes errors.Is(err, ErrKeyReused) hold.
func (e *ConflictError) Unwrap() error { return ErrKeyReused }

// InProgressError names a key whose first request is still being handled.
type InProgressError struct {
	Key string
}

// Error names the key whose first request has not finished.
func (e *InProgressError) Error() string {
	return fmt.Sprintf("idempotency: a request with key %q is in progress", e.Key)
}

// Unwrap makes errors.Is(err, ErrInProgress) hold.
func (e *InProgressError) Unwrap() error { return ErrInProgress }
