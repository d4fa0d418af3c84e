package lockvalue

import (
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// Contended is the error of an acquisition of key that found it taken for
// timeout: a *locking.Error, as callers of a provider expect, which, when
// holder (the value the acquire script returned with its refusal) records
// who holds the key, also matches *locking.HeldError naming that holder.
func Contended(key string, timeout time.Duration, holder string) error {
	le := &locking.Error{Key: key, Timeout: timeout}
	if holder == "" {
		return le
	}
	v := Parse(holder)
	if !v.Recorded {
		return le
	}
	return &heldError{le: le, held: &locking.HeldError{Key: key, Holder: v.Holder}}
}

// heldError is contention that names the holder.
type heldError struct {
	le   *locking.Error
	held *locking.HeldError
}

// Error says which key was not had within which timeout, and who held it.
func (e *heldError) Error() string { return e.le.Error() + ": held by " + e.held.Holder.Instance }

// Unwrap returns the *locking.Error and the *locking.HeldError.
func (e *heldError) Unwrap() []error { return []error{e.le, e.held} }
