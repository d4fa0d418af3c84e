package locking

import (
	"fmt"
	"reflect"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// DistributedLock marks a message type whose handler must run while a lock is
// held. Embed it and put the settings in its struct tag:
//
//	type WithdrawCommand struct {
//		mediator.Command[WithdrawResult]
//		locking.DistributedLock `lock:"prefix=payment,timeout=15s,throw=false"`
//		AccountID string
//	}
//
// The words of the tag, all optional, separated by commas:
//   - prefix: the key prefix; default the type's name ("WithdrawCommand");
//   - timeout: how long to wait, a Go duration ("15s", "250ms") or whole
//     seconds ("15"); "0" means one try that fails at once; default 30s;
//   - throw: whether a lock not had in time is an error (default true); with
//     throw=false the handler is skipped and Send returns the zero response
//     and a nil error.
//
// The marker may also sit in a struct the message embeds, by value or by
// pointer, at any depth: it is found, with its tag, where Go's promotion
// rules find it (the shallowest wins; two at one depth fail Build).
//
// A malformed tag fails Build with a [*TagError] naming the type and every
// bad word. A handled type carrying the marker that no locking behavior
// covers fails Build too (see [UnlockedError]). DistributedLock is
// zero-size: embedding it costs nothing.
type DistributedLock struct{}

// KeyProvider is implemented by messages that scope their lock to one entity:
// the final key is the prefix, ":" and LockKey(). An empty LockKey means one
// lock for the whole message type.
type KeyProvider interface {
	LockKey() string
}

// MultiKeyProvider is implemented by messages that need several locks at once,
// a transfer between two accounts say. Every key is locked; keys are taken in
// sorted order, duplicates once, and released in reverse order, so two
// messages locking the same keys cannot deadlock. An empty list means one lock
// for the whole message type. MultiKeyProvider wins over [KeyProvider].
type MultiKeyProvider interface {
	LockKeys() []string
}

// guardName is the mediator guard the DistributedLock marker stands for.
const guardName = "locking.DistributedLock"

// MediatorGuard makes the marker a [mediator.Guarded] one: Build refuses a
// handled request type that carries it while no locking behavior covers it
// ([WithDistributedLocking] for the type, or [WithGlobalDistributedLocking]),
// even when no locking option is registered at all, so a forgotten
// registration is never a handler running without its lock. It is not
// meant to be called by applications.
func (DistributedLock) MediatorGuard() mediator.Guard {
	return mediator.Guard{Name: guardName, Unguarded: unguarded}
}

// unguarded is the Build error of a marked request type that no locking
// behavior covers; a problem with its tag or key sources is reported along.
func unguarded(req, res reflect.Type, handlerSource string) error {
	e := &UnlockedError{Type: req.String(), Response: res.String(), HandlerSource: handlerSource, Marker: "DistributedLock"}
	st := req
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if m, err := findMarker(req, st); err == nil && m.found {
		e.Marker = m.path
	}
	if _, err := inspect(req); err != nil {
		e.Cause = err
	}
	return e
}

// UnlockedError fails Build for a request type that has a handler and
// carries the [DistributedLock] marker, but that no locking behavior covers:
// its handler would run without the lock. Cause is a problem with its tag or
// key sources found at the same time, if any.
type UnlockedError struct {
	// Type and Response are the request type and its response type.
	Type, Response string
	// HandlerSource is where the handler was registered ("file:line").
	HandlerSource string
	// Marker is the path of the marker field ("Base.DistributedLock").
	Marker string
	// Cause is what else is wrong with the type's lock settings, or nil.
	Cause error
}

// Error names the type, its handler's registration and both fixes.
func (e *UnlockedError) Error() string {
	marker := "locking.DistributedLock"
	if e.Marker != "DistributedLock" && e.Marker != "" {
		marker += " (as " + e.Marker + ")"
	}
	msg := fmt.Sprintf("%s: WithHandler (at %s): locking: the type carries %s but no locking behavior covers it, so its handler would run without the lock: add locking.WithDistributedLocking[%s, %s]() for this type, or locking.WithGlobalDistributedLocking() for every type carrying the marker",
		e.Type, e.HandlerSource, marker, e.Type, e.Response)
	if e.Cause != nil {
		msg += "; its lock settings are wrong too: " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns Cause.
func (e *UnlockedError) Unwrap() error { return e.Cause }
