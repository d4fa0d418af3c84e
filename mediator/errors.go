package mediator

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// ErrNoHandler is returned (wrapped in *NoHandlerError) by Send for a request
// type that has no handler.
var ErrNoHandler = errors.New("mediator: no handler")

// ErrNoNotificationHandler is returned by Publish for a notification type
// without handlers, when the mediator was built with [RequireNotificationHandlers].
var ErrNoNotificationHandler = errors.New("mediator: no notification handler")

// ErrNilMediator is returned by [Send], [Publish], [Mediator.Close] and
// [Mediator.Invoke] called on a nil *Mediator.
var ErrNilMediator = errors.New("mediator: nil *Mediator: use the one New or Build returned")

// ErrNotBuilt is returned by Send, Publish and Close on a *Mediator that Build
// has not returned: the one a constructor receives, used before Build is
// done, or the one of a Build that failed (or a Mediator{} made by hand).
var ErrNotBuilt = errors.New("mediator: not built: a mediator answers once Build has returned it without error")

// ErrClosed is returned by Send and Publish after [Mediator.Close]. Every lock
// provider of this project also refuses a lock asked for after it was closed
// with an error matching ErrClosed (locking.ErrClosed is the same value), so
// a request racing with Close gets this one error whichever provider it
// meets, never a lock.
var ErrClosed = errors.New("mediator: closed")

// NoHandlerError names the request type that had no handler.
type NoHandlerError struct {
	// Type is the static type of the request that was sent.
	Type reflect.Type
	// Hint explains a near miss, such as a handler registered for *T when T
	// was sent.
	Hint string
}

// Error names the request type and, when there is one, how to register its handler.
func (e *NoHandlerError) Error() string {
	if e.Hint != "" {
		return fmt.Sprintf("mediator: no handler for %s (%s)", e.Type, e.Hint)
	}
	return fmt.Sprintf("mediator: no handler for %s", e.Type)
}

// Unwrap returns ErrNoHandler.
func (e *NoHandlerError) Unwrap() error { return ErrNoHandler }

// BuildError lists every problem Build found. errors.Is and errors.As look
// through it to each problem.
type BuildError struct {
	Problems []error
}

// Error lists every problem Build found, one per line when there are several.
func (e *BuildError) Error() string {
	if len(e.Problems) == 1 {
		return "mediator: build: " + e.Problems[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mediator: build: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n\t- ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems.
func (e *BuildError) Unwrap() []error { return e.Problems }

// PanicError is what a parallel Publish reports when a notification handler
// panicked in its goroutine, where the panic could not reach the caller.
type PanicError struct {
	Value any
	Stack []byte
}

// Error gives the value the handler panicked with.
func (e *PanicError) Error() string { return fmt.Sprintf("mediator: handler panicked: %v", e.Value) }

// RegistrationError is a Build problem with one registration: a constructor
// that failed, panicked or lacks a dependency, a value of the wrong type, a
// check an extension runs at Build. It reads in the user's terms — the
// message type, the function that registered it and where it was called,
// then what went wrong — with dig's internal wrapping taken off; errors.Is
// and errors.As still reach the original cause through Unwrap.
//
// A constructor may return a *RegistrationError itself to blame another
// registration: a behavior that fails because of a defaults option returns
// one naming that option and its line, and Build reports it as it is (with
// Type filled in when left nil).
type RegistrationError struct {
	// Type is the message type the registration is for; nil for a global
	// behavior or an [Invoke].
	Type reflect.Type
	// By is the registering function ("WithHandler", "WithBehavior", ...),
	// or the extension option that called it ("locking.WithDistributedLocking").
	By string
	// Source is "file:line" of the call that made the registration.
	Source string
	// Err says what went wrong.
	Err error
}

// Error reads "pkg.Type: By (at file:line): what went wrong".
func (e *RegistrationError) Error() string {
	var b strings.Builder
	if e.Type != nil {
		b.WriteString(e.Type.String())
		b.WriteString(": ")
	}
	b.WriteString(e.By)
	if e.Source != "" {
		b.WriteString(" (at ")
		b.WriteString(e.Source)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns Err.
func (e *RegistrationError) Unwrap() error { return e.Err }

// DuplicateServiceError is the Build problem of a type given to the
// container twice (two lock providers, say): a type has one constructor.
type DuplicateServiceError struct {
	// Type is the type provided twice, as dig names it (with its name or
	// group, if any).
	Type string
	// Plural names such services, when an extension said so with
	// [Describe]: "lock providers".
	Plural string
	// First and Second are where the two registrations were made
	// ("file:line"); First may be "the mediator itself".
	First, Second string

	err error
}

// Error names both registrations and says to keep one.
func (e *DuplicateServiceError) Error() string {
	switch {
	case e.First == providedByMediator:
		return fmt.Sprintf("%s (provided at %s) is provided by the mediator itself: ask for it as a parameter instead", e.Type, e.Second)
	case e.Plural != "":
		return fmt.Sprintf("two %s: registered at %s and at %s: keep one", e.Plural, e.First, e.Second)
	}
	return fmt.Sprintf("two constructors of %s: registered at %s and at %s: keep one", e.Type, e.First, e.Second)
}

// Unwrap returns dig's error.
func (e *DuplicateServiceError) Unwrap() error { return e.err }
