package locking

import (
	"fmt"
	"log/slog"
	"reflect"
	"unsafe"

	"go.uber.org/dig"

	"github.com/turbomediator/turbomediator-go/internal/grant"
)

// deps is what the behavior asks the container for at Build. Everything is
// optional so that a missing provider gets our own clear message instead of
// dig's.
type deps struct {
	dig.In

	Provider  Provider              `optional:"true"`
	Defaults  *defaultsRegistration `optional:"true"`
	Logger    *loggerRegistration   `optional:"true"`
	AppLogger *slog.Logger          `optional:"true"`
	Observers []Observer            `group:"locking.observers"`
}

func (d *deps) check(what string) error {
	if d.Provider == nil {
		return fmt.Errorf("%w (needed by %s): register one, e.g. memory.WithInMemoryDistributedLocking(), redis.WithRedisDistributedLocking(addr), locking.WithDistributedLockProvider[P](), or locking.WithNoOpLocking() in handler tests", ErrNoProvider, what)
	}
	return nil
}

func (d *deps) reporter() reporter {
	log := d.AppLogger
	if d.Logger != nil {
		log = d.Logger.logger
	}
	return newReporter(log, d.Observers)
}

// typeLock is one message type's resolved locking: its locker and how its
// keys are made.
type typeLock struct {
	locker
	keys keyPlan
}

// resolve applies the precedence rules for message type t: perType (the
// configure functions of its own registration, nil for the global one) over
// its tag over global.
func resolve(t reflect.Type, global Options, perType []func(*Options), d *deps) (*typeLock, error) {
	spec, err := inspect(t)
	if err != nil {
		return nil, err
	}
	timeout, throw, gp, prefix := global.DefaultTimeout, global.DefaultThrowIfNotAcquired, global.GlobalKeyPrefix, spec.name
	if spec.tag.hasPrefix {
		prefix = spec.tag.prefix
	}
	if spec.tag.hasTimeout {
		timeout = spec.tag.timeout
	}
	if spec.tag.hasThrow {
		throw = spec.tag.throw
	}
	if perType != nil {
		set := whatIsSet(global, perType)
		if set.timeout {
			timeout = set.values.DefaultTimeout
		}
		if set.throw {
			throw = set.values.DefaultThrowIfNotAcquired
		}
		if set.globalPrefix {
			gp = set.values.GlobalKeyPrefix
		}
		if set.keyPrefix && set.values.KeyPrefix != "" {
			prefix = set.values.KeyPrefix
		}
	}
	if timeout < 0 {
		return nil, fmt.Errorf("locking: %s: negative timeout %s", t, timeout)
	}
	base := prefix
	if gp != "" {
		base = gp + ":" + prefix
	}
	tl := &typeLock{
		locker: locker{provider: d.Provider, prefix: base, timeout: timeout, throw: throw, reporter: d.reporter()},
		keys:   newKeyPlan(spec, base, t.Kind() == reflect.Pointer),
	}
	if reflect.TypeOf(d.Provider).Comparable() {
		tl.ident = d.Provider
	}
	tl.grants, _ = d.Provider.(grant.Acquirer)
	if tl.keys.source == fromFields && !tl.keys.pointer && isDirectIface(t) {
		// Such a struct has one field, so it cannot carry both a message
		// marker and a key field; refuse it rather than misread it.
		return nil, fmt.Errorf("locking: %s: key fields on a one-field struct are not supported", t)
	}
	return tl, nil
}

// isDirectIface reports whether an interface holding a t keeps the value in
// its data word (pointers, and structs of one pointer) rather than a pointer
// to a copy. A zero value boxed the direct way leaves the word nil; the
// indirect way always points somewhere.
func isDirectIface(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		return true
	}
	v := reflect.New(t).Elem().Interface()
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1] == nil
}
