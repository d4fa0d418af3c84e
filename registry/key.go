package registry

import (
	"reflect"
	"unsafe"
)

// Key identifies a static Go type. Two keys are equal exactly when they were
// made for the same type, so T and *T have different keys.
type Key struct{ p unsafe.Pointer }

// KeyOf returns the Key of T. It costs a couple of instructions and never
// allocates: it reads the type word of a nil *T stored in an interface, which
// the compiler fills from the static type (or the generic dictionary).
func KeyOf[T any]() Key {
	var probe any = (*T)(nil)
	return Key{(*[2]unsafe.Pointer)(unsafe.Pointer(&probe))[0]}
}

// IsZero reports whether k is the zero Key, which no type has.
func (k Key) IsZero() bool { return k.p == nil }

// Type returns the reflect.Type of the type k was made for, or nil for the
// zero Key. It serves error messages (a Send without a handler), never the
// hot path.
func (k Key) Type() reflect.Type {
	if k.p == nil {
		return nil
	}
	var probe any
	(*[2]unsafe.Pointer)(unsafe.Pointer(&probe))[0] = k.p // a nil *T
	return reflect.TypeOf(probe).Elem()
}

// TypeOf returns the reflect.Type for T; used at Build time and for error
// messages, never on the hot path.
func TypeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }
