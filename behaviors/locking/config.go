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
	// Claims are the per-type registrations of the mediator.
	Claims []typeClaim `group:"locking.types"`

	Provider  Provider              `optional:"true"`
	Defaults  *defaultsRegistration `optional:"true"`
	Logger    *loggerRegistration   `optional:"true"`
	AppLogger *slog.Logger          `optional:"true"`
	Observers []Observer            `group:"locking.observers"`
	// Trace labels acquisitions with the Send's trace (WithTraceIdentity).
	Trace *traceIdentity `optional:"true"`
	// Registered is set when a provider is registered (see check).
	Registered *providerRegistered `optional:"true"`
}

func (d *deps) check(what string) error {
	if d.Provider == nil && d.Registered != nil {
		// The registered provider could not be built: its registration
		// reports why and fails Build, so this behavior is never used.
		d.Provider = unbuiltProvider{}
	}
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
	timeout, throw := global.DefaultTimeout, global.DefaultThrowIfNotAcquired
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
	}
	if timeout < 0 {
		return nil, fmt.Errorf("locking: %s: its options set a negative DefaultTimeout %s: use 0 for one try that fails at once, or a positive wait", t, timeout)
	}
	base, _ := basePrefix(spec, global, perType)
	tl := &typeLock{
		locker: locker{provider: d.Provider, prefix: base, timeout: timeout, throw: throw, reporter: d.reporter()},
		keys:   newKeyPlan(spec, base, t.Kind() == reflect.Pointer),
	}
	tl.msgType = t.String()
	tl.acquirer = Acquirer{MessageType: tl.msgType}
	tl.id = grant.Identity{MessageType: tl.msgType}
	if d.Trace != nil && d.Trace.f != nil {
		tl.trace = d.Trace.f
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

// basePrefix returns "[GlobalKeyPrefix:]Prefix" of a type with these
// settings, and whether Prefix is the type's name by default (no prefix= tag,
// no KeyPrefix).
func basePrefix(spec typeSpec, global Options, perType []func(*Options)) (base string, byDefault bool) {
	gp, prefix, byDefault := global.GlobalKeyPrefix, spec.name, true
	if spec.tag.hasPrefix {
		prefix, byDefault = spec.tag.prefix, false
	}
	if perType != nil {
		set := whatIsSet(global, perType)
		if set.globalPrefix {
			gp = set.values.GlobalKeyPrefix
		}
		if set.keyPrefix && set.values.KeyPrefix != "" {
			prefix, byDefault = set.values.KeyPrefix, false
		}
	}
	if gp != "" {
		return gp + ":" + prefix, byDefault
	}
	return prefix, byDefault
}

// typeClaim is what each WithDistributedLocking puts in the container's
// group, so that every locking behavior sees which other types are locked
// and under which prefix.
type typeClaim struct {
	t         reflect.Type
	configure []func(*Options)
	source    string // where WithDistributedLocking was called
}

const claimGroup = "locking.types"

// sameStruct reports whether a and b are one struct type, maybe one of them
// as a pointer: T and *T share their locks on purpose.
func sameStruct(a, b reflect.Type) bool {
	if a.Kind() == reflect.Pointer {
		a = a.Elem()
	}
	if b.Kind() == reflect.Pointer {
		b = b.Elem()
	}
	return a == b
}

// fullName is a type's name with its whole package path, which tells apart
// two types whose String is the same.
func fullName(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		return "*" + fullName(t.Elem())
	}
	if t.PkgPath() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

// defaultPrefixOf returns the base prefix of claim c's type when it is its
// default (its name), or "".
func (c typeClaim) defaultPrefix(global Options) string {
	spec, err := inspect(c.t)
	if err != nil {
		return ""
	}
	base, byDefault := basePrefix(spec, global, c.configure)
	if !byDefault {
		return ""
	}
	return base
}

// checkCollision fails for type t, whose locks are under base by default,
// when another per-type registration's type of the same name (from another
// package) is too. Of the two, the one whose full name sorts last reports,
// so a collision is reported once. self is t's own registration line.
func checkCollision(t reflect.Type, base, self string, global Options, claims []typeClaim) error {
	for _, c := range claims {
		if sameStruct(c.t, t) || fullName(c.t) > fullName(t) {
			continue
		}
		if c.defaultPrefix(global) == base {
			return &PrefixCollisionError{Prefix: base, First: fullName(c.t), FirstSource: c.source, Second: fullName(t), SecondSource: self}
		}
	}
	return nil
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
