package locking

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotAcquired is reported (wrapped in *Error) when the lock stayed taken
// for the whole timeout.
var ErrNotAcquired = errors.New("locking: lock not acquired")

// ErrUnavailable is reported when the lock provider failed (its server could
// not be reached, say); the error also wraps the cause. It is never used for
// contention.
var ErrUnavailable = errors.New("locking: lock provider unavailable")

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
// with it. A tag's bad words are all reported at once: the first in Word and
// Reason, the others in More.
type TagError struct {
	// Type is the message type carrying the tag.
	Type string
	// Field is the struct field whose tag is wrong: for a marker in an
	// embedded struct, its path ("Base.DistributedLock").
	Field string
	// Word is the offending word of the tag ("timeout=abc"), or the field's
	// type for a key field of a kind that cannot be a key.
	Word string
	// Reason says what is wrong with Word and what to write instead.
	Reason string
	// More are the tag's other bad words, in the order written.
	More []TagProblem
}

// TagProblem is one bad word of a lock tag and what is wrong with it.
type TagProblem struct {
	Word, Reason string
}

// Error names the type, the field and every bad word, and says what is wrong
// with each.
func (e *TagError) Error() string {
	if len(e.More) == 0 {
		return fmt.Sprintf("locking: %s.%s: lock tag %q: %s", e.Type, e.Field, e.Word, e.Reason)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "locking: %s.%s: %d bad words in the lock tag: %q: %s", e.Type, e.Field, len(e.More)+1, e.Word, e.Reason)
	for _, p := range e.More {
		fmt.Fprintf(&b, "; %q: %s", p.Word, p.Reason)
	}
	return b.String()
}

// KeyMethodError fails Build for a value message type whose LockKey or
// LockKeys method is declared on the pointer receiver: the value type does
// not have the method, so every message would share one type-wide lock.
type KeyMethodError struct {
	// Type is the registered message type.
	Type string
	// Method is "LockKey" or "LockKeys".
	Method string
	// Result is the method's result type ("string", "[]string").
	Result string
}

// Error names the type and the method and gives both fixes.
func (e *KeyMethodError) Error() string {
	recv := e.Type
	if i := strings.LastIndexByte(recv, '.'); i >= 0 {
		recv = recv[i+1:]
	}
	return fmt.Sprintf("locking: %s: %s has a pointer receiver, so the registered value type %s does not have it and every message would share one lock: declare it on the value, func (c %s) %s() %s, or register and send *%s",
		e.Type, e.Method, e.Type, recv, e.Method, e.Result, e.Type)
}

// ErrNoKey is reported (wrapped in *KeyError) by Send when a message's lock
// key cannot be made: a nil pointer message whose LockKey has a value
// receiver, a nil fmt.Stringer key field. The handler is not run and no lock
// is taken.
var ErrNoKey = errors.New("locking: cannot make the lock key")

// KeyError says why the lock key of a message could not be made.
type KeyError struct {
	// Type is the message type.
	Type string
	// Reason says what is wrong with the message and what to do.
	Reason string
}

// Error names the type and the reason.
func (e *KeyError) Error() string {
	return fmt.Sprintf("locking: cannot make the lock key of %s: %s", e.Type, e.Reason)
}

// Unwrap returns ErrNoKey.
func (e *KeyError) Unwrap() error { return ErrNoKey }

// PrefixCollisionError fails Build when two locked message types of the same
// name from different packages both take their default prefix, the name:
// they would share locks and fencing counters.
type PrefixCollisionError struct {
	// Prefix is the key prefix both would lock under.
	Prefix string
	// First and Second are the two types, with their package paths.
	First, Second string
	// FirstSource and SecondSource are where their locking was registered
	// ("file:line"), when known.
	FirstSource, SecondSource string
}

// Error names both types and says how to part them.
func (e *PrefixCollisionError) Error() string {
	where := func(src string) string {
		if src == "" {
			return ""
		}
		return " (registered at " + src + ")"
	}
	return fmt.Sprintf("locking: %s%s and %s%s both lock under the default prefix %q, so they would share locks and fencing tokens: give one of them its own prefix, with a prefix= tag on its DistributedLock or KeyPrefix in its WithDistributedLocking options",
		e.First, where(e.FirstSource), e.Second, where(e.SecondSource), e.Prefix)
}
