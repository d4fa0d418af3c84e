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

// TypeOf returns the reflect.Type for T; used at Build time and for error
// messages, never on the hot path.
func TypeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }
