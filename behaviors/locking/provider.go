package locking

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"go.uber.org/dig"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// Provider grants exclusive locks on string keys, within one process or
// across many depending on the implementation.
//
// TryAcquire waits up to timeout for key to be free and returns a Handle for
// it. A timeout of 0 (or less) means one attempt that does not wait. The three
// outcomes must be distinguishable by the caller:
//   - granted: a Handle and a nil error;
//   - contention (still taken when the timeout ran out): an error for which
//     errors.Is(err, ErrNotAcquired) holds, normally a *Error;
//   - failure (the backing store is unreachable, say): an error for which
//     errors.Is(err, ErrUnavailable) holds, wrapping the cause.
//
// When ctx ends first, TryAcquire returns an error wrapping ctx's error
// (context.Canceled or context.DeadlineExceeded) and holds nothing.
type Provider interface {
	TryAcquire(ctx context.Context, key string, timeout time.Duration) (Handle, error)
}

// Handle is one held lock.
type Handle interface {
	// Key returns the key the lock was taken on, without any storage prefix
	// the provider adds.
	Key() string
	// Token returns the fencing token of this grant: it grows with every
	// grant of the same key, so a store that remembers the largest token it
	// has seen can refuse a write from a holder that lost the lock.
	Token() uint64
	// Lost returns a channel that is closed when the provider can no longer
	// vouch for the lock (a lease that could not be extended, say). A nil
	// channel means the handle cannot be lost; the behavior then watches
	// nothing and starts no goroutine.
	Lost() <-chan struct{}
	// Release frees the lock. It is idempotent and safe to call from several
	// goroutines; only the first call does the work, later ones return nil.
	// Callers pass a context that is not already cancelled.
	Release(ctx context.Context) error
}

// LostNotifier is an optional interface of a [Handle] that can call a
// function when its lock is lost, as context.AfterFunc does for a context.
// The behavior then registers a callback instead of starting a goroutine per
// held lock to watch Lost. AfterLost arranges for f to run once, on a
// goroutine of its own, after Lost is closed (at once if it already is);
// stop unregisters f and reports whether it did so before f started. A
// handle that implements it is one that can be lost: the behavior registers
// its callback without asking for Lost, whose channel a provider may then
// make only when someone asks.
type LostNotifier interface {
	AfterLost(f func()) (stop func() bool)
}

// WithDistributedLockProvider registers P as the lock provider of the
// mediator. With no argument P's zero value is used (for a pointer type, a
// pointer to a new zero value). With a constructor — func(deps...) P or
// func(deps...) (P, error) — the dig container supplies its dependencies and
// Build calls it once.
//
// A mediator has one provider: registering a second fails Build.
func WithDistributedLockProvider[P Provider](constructor ...any) mediator.Option {
	name := fmt.Sprintf("locking.WithDistributedLockProvider[%s]", reflect.TypeFor[P]())
	var provide mediator.Option
	switch len(constructor) {
	case 0:
		provide = mediator.Provide(func() Provider { return zeroProvider[P]() })
	case 1:
		provide = mediator.Provide(constructor[0], dig.As(new(Provider)))
	default:
		return mediator.Failed(name, fmt.Errorf("locking: WithDistributedLockProvider takes at most one constructor, got %d", len(constructor)))
	}
	return mediator.Options(name,
		// Named, a second provider fails Build with "two lock providers:
		// registered at X and at Y".
		mediator.Describe[Provider]("lock providers"),
		provide,
		mediator.Provide(func() *providerRegistered { return &providerRegistered{} }),
		// A provider whose constructor lacks a dependency is reported here,
		// under this registration, with the missing type.
		mediator.Invoke(func(Provider) {}),
	)
}

// providerRegistered is in the container when a lock provider is
// registered. The behavior asks for the provider as an optional parameter,
// which the container leaves nil both when none is registered and when the
// registered one's constructor lacks a dependency; this tells them apart.
type providerRegistered struct{}

// unbuiltProvider stands in, while Build runs, for a registered provider
// whose constructor lacked a dependency. Build fails on that (see
// WithDistributedLockProvider), so it never serves a Send.
type unbuiltProvider struct{}

func (unbuiltProvider) TryAcquire(_ context.Context, key string, _ time.Duration) (Handle, error) {
	return nil, &UnavailableError{Key: key, Err: errors.New("locking: the lock provider could not be built")}
}

func zeroProvider[P Provider]() P {
	var p P
	t := reflect.TypeFor[P]()
	if t.Kind() == reflect.Pointer {
		p = reflect.New(t.Elem()).Interface().(P)
	}
	return p
}
