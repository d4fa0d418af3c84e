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

// NoHandlerError names the request type that had no handler.
type NoHandlerError struct {
	// Type is the static type of the request that was sent.
	Type reflect.Type
	// Hint explains a near miss, such as a handler registered for *T when T
	// was sent.
	Hint string
}

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

func (e *PanicError) Error() string { return fmt.Sprintf("mediator: handler panicked: %v", e.Value) }
