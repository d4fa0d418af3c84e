package registry

import (
	"errors"
	"fmt"
	"reflect"
)

// ErrFrozen is returned when something is registered after Freeze.
var ErrFrozen = errors.New("registry: frozen: nothing can be registered after Build")

// Registration is one registered thing (a handler, a behavior) and where in the
// user's code it was registered, so build errors can point at both places of a
// conflict.
type Registration struct {
	// Value is the registered value or constructor, as given.
	Value any
	// Source is "file:line" of the call that created the registration.
	Source string
	// By names the option group that made the registration (an extension's
	// option such as locking.WithDistributedLocking), without type
	// arguments; empty when the user called the registering function itself.
	By string
}

// Entry is everything registered for one message type.
type Entry struct {
	// Key and Type identify the message type.
	Key  Key
	Type reflect.Type
	// Handler is the handler registration; nil when none was registered.
	Handler *Registration
	// Behaviors are the per-type behaviors in registration order
	// (first registered = outermost).
	Behaviors []Registration
	// Compose is set by the first typed registration for the type. The
	// mediator calls it at Build to turn the registrations into a route.
	Compose any

	options map[any][]any
}

// AddOption attaches an option value for the behavior that owns key. Values
// accumulate in registration order and are never shared with another type.
func (e *Entry) AddOption(key, value any) {
	if e.options == nil {
		e.options = make(map[any][]any)
	}
	e.options[key] = append(e.options[key], value)
}

// Options returns the option values attached under key, in registration order.
func (e *Entry) Options(key any) []any { return e.options[key] }

// Registry collects entries while a mediator is being built.
type Registry struct {
	entries map[Key]*Entry
	order   []*Entry
	frozen  bool
}

// New returns an empty Registry.
func New() *Registry { return &Registry{entries: make(map[Key]*Entry)} }

// Entry returns the entry for the type of key, creating it if needed.
func (r *Registry) Entry(key Key, t reflect.Type) (*Entry, error) {
	if r.frozen {
		return nil, ErrFrozen
	}
	if e, ok := r.entries[key]; ok {
		return e, nil
	}
	e := &Entry{Key: key, Type: t}
	r.entries[key] = e
	r.order = append(r.order, e)
	return e, nil
}

// SetHandler records h as the handler of the entry's type. A second handler
// for the same type is an error naming both registrations.
func (e *Entry) SetHandler(h Registration) error {
	if e.Handler != nil {
		return &DuplicateError{Type: e.Type, First: e.Handler.Source, Second: h.Source}
	}
	e.Handler = &h
	return nil
}

// Lookup returns the entry for key, if any.
func (r *Registry) Lookup(key Key) (*Entry, bool) {
	e, ok := r.entries[key]
	return e, ok
}

// Entries returns the entries in the order their types were first registered.
func (r *Registry) Entries() []*Entry { return r.order }

// FindByType returns the entry whose Type is t; used on error paths only.
func (r *Registry) FindByType(t reflect.Type) (*Entry, bool) {
	for _, e := range r.order {
		if e.Type == t {
			return e, true
		}
	}
	return nil, false
}

// Freeze stops further registration.
func (r *Registry) Freeze() { r.frozen = true }

// Frozen reports whether Freeze was called.
func (r *Registry) Frozen() bool { return r.frozen }

// DuplicateError reports a second handler for a message type.
type DuplicateError struct {
	Type          reflect.Type
	First, Second string
}

// Error names the type and both places it was registered.
func (e *DuplicateError) Error() string {
	return fmt.Sprintf("registry: duplicate handler for %s: registered at %s and again at %s", e.Type, e.First, e.Second)
}
