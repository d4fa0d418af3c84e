package locking

import (
	"errors"
	"fmt"
	"time"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// ErrNotAcquired is reported (wrapped in *Error) when the lock stayed taken
// for the whole timeout.
var ErrNotAcquired = errors.New("locking: lock not acquired")

// ErrUnavailable is reported when the lock provider failed (its server could
// not be reached, say); the error also wraps the cause. It is never used for
// contention.
var ErrUnavailable = errors.New("locking: lock provider unavailable")

// ErrClosed is the one error a closed lock provider answers with: every
// provider of this project refuses TryAcquire after its Close with an error
// matching both ErrClosed and [ErrUnavailable], never with a lock. It is
// mediator.ErrClosed itself, so a Send after the mediator's Close and a Send
// that reached a provider closed meanwhile match the same sentinel.
var ErrClosed = mediator.ErrClosed

// ErrLockLost is the cause with which a handler's context is cancelled when
// its lock is lost, and what Send then reports.
var ErrLockLost = errors.New("locking: lock lost")

// Error tells which lock could not be had and how long the caller waited.
type Error struct {
	// Key is the lock key, without any storage prefix of the provider.
	Key string
	// Timeout is how long the caller was prepared to wait.
	Timeout time.Duration
}

// Error says which key was not had within which timeout.
func (e *Error) Error() string {
	return fmt.Sprintf("locking: %q not acquired within %s", e.Key, e.Timeout)
}

// Unwrap returns ErrNotAcquired.
func (e *Error) Unwrap() error { return ErrNotAcquired }

// UnavailableError is a provider failure for one key: errors.Is matches both
// ErrUnavailable and the cause.
type UnavailableError struct {
	Key string
	Err error
}

// Error names the key and the provider's failure.
func (e *UnavailableError) Error() string {
	return fmt.Sprintf("locking: provider unavailable for %q: %v", e.Key, e.Err)
}

// Unwrap returns ErrUnavailable and the cause.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// ErrNoProvider fails Build when the locking behavior is registered but no
// lock provider is.
var ErrNoProvider = errors.New("locking: no lock provider is registered")

// TagError reports a malformed lock tag or an unusable key field; Build fails
// with it.
type TagError struct {
	// Type is the message type carrying the tag.
	Type string
	// Field is the struct field whose tag is wrong.
	Field string
	// Word is the offending word of the tag ("timeout=abc"), or the field's
	// type for a key field of a kind that cannot be a key.
	Word string
	// Reason says what is wrong with Word.
	Reason string
}

// Error names the type, the field and the word, and says what is wrong.
func (e *TagError) Error() string {
	return fmt.Sprintf("locking: %s.%s: lock tag %q: %s", e.Type, e.Field, e.Word, e.Reason)
}
