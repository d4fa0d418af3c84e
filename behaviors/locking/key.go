package locking

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// keyField reads one field tagged lock:"key" straight from the message's
// memory: its offset and kind are found once at Build, so a Send reads it
// without reflection.
type keyField struct {
	name     string
	offset   uintptr
	kind     reflect.Kind
	typ      reflect.Type
	stringer bool // call String; ptrStr: on a pointer to the field
	ptrStr   bool
	nilable  bool // an interface or a pointer: String on nil is refused
}

var stringerType = reflect.TypeFor[fmt.Stringer]()

func newKeyField(f reflect.StructField) (keyField, error) {
	kf := keyField{name: f.Name, offset: f.Offset, kind: f.Type.Kind(), typ: f.Type}
	switch kf.kind {
	case reflect.Interface, reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		kf.nilable = true
	}
	switch {
	case f.Type.Implements(stringerType):
		kf.stringer = true
	case reflect.PointerTo(f.Type).Implements(stringerType):
		kf.stringer, kf.ptrStr = true, true
	default:
		switch kf.kind {
		case reflect.String, reflect.Bool,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		default:
			return kf, errors.New("a key field must be a string, an integer, a bool or a fmt.Stringer")
		}
	}
	return kf, nil
}

// appendTo appends the field of the struct at base to buf. It hands base to
// nothing that could keep it, so a message on the caller's stack stays there;
// Stringer fields, which need reflect, go through appendStringer instead.
func (f *keyField) appendTo(buf []byte, base unsafe.Pointer) []byte {
	p := unsafe.Add(base, f.offset)
	switch f.kind {
	case reflect.String:
		return appendPart(buf, *(*string)(p))
	case reflect.Bool:
		return strconv.AppendBool(buf, *(*bool)(p))
	case reflect.Int:
		return strconv.AppendInt(buf, int64(*(*int)(p)), 10)
	case reflect.Int8:
		return strconv.AppendInt(buf, int64(*(*int8)(p)), 10)
	case reflect.Int16:
		return strconv.AppendInt(buf, int64(*(*int16)(p)), 10)
	case reflect.Int32:
		return strconv.AppendInt(buf, int64(*(*int32)(p)), 10)
	case reflect.Int64:
		return strconv.AppendInt(buf, *(*int64)(p), 10)
	case reflect.Uint:
		return strconv.AppendUint(buf, uint64(*(*uint)(p)), 10)
	case reflect.Uint8:
		return strconv.AppendUint(buf, uint64(*(*uint8)(p)), 10)
	case reflect.Uint16:
		return strconv.AppendUint(buf, uint64(*(*uint16)(p)), 10)
	case reflect.Uint32:
		return strconv.AppendUint(buf, uint64(*(*uint32)(p)), 10)
	case reflect.Uint64:
		return strconv.AppendUint(buf, *(*uint64)(p), 10)
	case reflect.Uintptr:
		return strconv.AppendUint(buf, uint64(*(*uintptr)(p)), 10)
	}
	return buf
}

// appendStringer appends the String() of the field of the struct at base,
// which must be on the heap: reflect keeps the pointer. A nil field is an
// error rather than a call that would panic.
func (f *keyField) appendStringer(buf []byte, base unsafe.Pointer) ([]byte, bool) {
	v := reflect.NewAt(f.typ, unsafe.Add(base, f.offset))
	if f.nilable && v.Elem().IsNil() {
		return buf, false
	}
	if !f.ptrStr {
		v = v.Elem()
	}
	return appendPart(buf, v.Interface().(fmt.Stringer).String()), true
}

// appendPart appends one part of a composite key, escaping the separator
// ':' and the escape character (a backslash) with a backslash, so that the parts
// ("a:b", "c") and ("a", "b:c") make different keys. A part without either
// character is appended as it is.
func appendPart(buf []byte, part string) []byte {
	if strings.IndexByte(part, ':') < 0 && strings.IndexByte(part, '\\') < 0 {
		return append(buf, part...)
	}
	for i := 0; i < len(part); i++ {
		if c := part[i]; c == ':' || c == '\\' {
			buf = append(buf, '\\')
		}
		buf = append(buf, part[i])
	}
	return buf
}

// keySource says where a message type's key comes from.
type keySource uint8

const (
	typeWide    keySource = iota // no key: one lock for the type
	fromMethod                   // LockKey()
	fromMethods                  // LockKeys()
	fromFields                   // fields tagged lock:"key"
)

// keyPlan turns a message into its final lock key(s). Everything that does
// not depend on the message's values is computed at Build.
type keyPlan struct {
	base      string // "[GlobalKeyPrefix:]Prefix", the key of a type-wide lock
	baseColon string // base + ":"
	source    keySource
	fields    []keyField
	pointer   bool // the message type is a pointer to the struct
	stringers bool // some key field is a fmt.Stringer
	// nilRecv: the message type is a pointer whose LockKey or LockKeys has
	// a value receiver, so calling it on a nil message would panic.
	nilRecv bool
	typ     string // the message type, for errors
}

func newKeyPlan(spec typeSpec, base string, isPointer bool) keyPlan {
	kp := keyPlan{base: base, baseColon: base + ":", pointer: isPointer, nilRecv: spec.valueRecv, typ: spec.typ}
	switch {
	case spec.multi:
		kp.source = fromMethods
	case spec.single:
		kp.source = fromMethod
	case len(spec.keyFields) > 0:
		kp.source, kp.fields = fromFields, spec.keyFields
		for _, f := range spec.keyFields {
			kp.stringers = kp.stringers || f.stringer
		}
	}
	return kp
}

// withPart joins the base and a message's key part: one allocation, none
// for an empty part (a type-wide lock).
func (kp *keyPlan) withPart(part string) string {
	if part == "" {
		return kp.base
	}
	return kp.baseColon + part
}

// fromStruct builds the key from the tagged fields of the struct at p (nil:
// a nil pointer message, the type-wide key): one allocation for the final
// string, the fields formatted on the stack. p may point into the caller's
// stack unless the type has Stringer fields; then it must be on the heap.
func (kp *keyPlan) fromStruct(p unsafe.Pointer) (string, error) {
	if p == nil {
		return kp.base, nil
	}
	var stack [96]byte
	buf := append(stack[:0], kp.baseColon...)
	for i := range kp.fields {
		if i > 0 {
			buf = append(buf, ':')
		}
		if kp.fields[i].stringer {
			var ok bool
			if buf, ok = kp.fields[i].appendStringer(buf, p); !ok {
				return "", &KeyError{Type: kp.typ, Reason: fmt.Sprintf("its key field %s is a nil %s: set it before sending", kp.fields[i].name, kp.fields[i].typ)}
			}
		} else {
			buf = kp.fields[i].appendTo(buf, p)
		}
	}
	if len(buf) == len(kp.baseColon) {
		return kp.base, nil
	}
	return string(buf), nil
}

// nilReceiver is the error of a nil pointer message whose key method has a
// value receiver.
func (kp *keyPlan) nilReceiver() error {
	method := "LockKey"
	if kp.source == fromMethods {
		method = "LockKeys"
	}
	return &KeyError{Type: kp.typ, Reason: "the message is a nil pointer and its " + method + " method has a value receiver: send a non-nil " + kp.typ}
}

// fromPlainStruct is fromStruct for types without Stringer fields. It keeps
// no pointer, so the typed behavior can pass it its own stack copy of the
// message without that copy moving to the heap.
func (kp *keyPlan) fromPlainStruct(p unsafe.Pointer) string {
	var stack [96]byte
	buf := kp.appendPlainStruct(stack[:0], p)
	if buf == nil {
		return kp.base
	}
	return string(buf)
}

// appendPlainStruct appends the key of the struct at p (a type without
// Stringer fields) to buf, or returns nil when the key is the type-wide one
// (kp.base). Like fromPlainStruct it keeps no pointer to p.
func (kp *keyPlan) appendPlainStruct(buf []byte, p unsafe.Pointer) []byte {
	if p == nil {
		return nil
	}
	buf = append(buf, kp.baseColon...)
	start := len(buf)
	for i := range kp.fields {
		if i > 0 {
			buf = append(buf, ':')
		}
		buf = kp.fields[i].appendTo(buf, p)
	}
	if len(buf) == start {
		return nil
	}
	return buf
}

// appendWithPart appends withPart(part) to buf, or returns nil for an empty
// part (the type-wide key, kp.base).
func (kp *keyPlan) appendWithPart(buf []byte, part string) []byte {
	if part == "" {
		return nil
	}
	return append(append(buf, kp.baseColon...), part...)
}

// fromBoxed builds the key from a message held in an interface: the data
// word points to the struct (to a heap copy for a struct type, to the struct
// itself for a pointer type).
func (kp *keyPlan) fromBoxed(req any) (string, error) {
	p := (*[2]unsafe.Pointer)(unsafe.Pointer(&req))[1]
	if kp.stringers {
		return kp.fromStruct(p)
	}
	return kp.fromPlainStruct(p), nil
}

// isNilBoxed reports whether req, a pointer message held in an interface,
// is a nil pointer.
func isNilBoxed(req any) bool {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&req))[1] == nil
}

// many turns the parts a MultiKeyProvider returned into sorted, distinct
// final keys. No parts, or only empty ones, mean the type-wide lock.
func (kp *keyPlan) many(parts []string) []string {
	keys := make([]string, 0, max(len(parts), 1))
	for _, p := range parts {
		keys = append(keys, kp.withPart(p))
	}
	if len(keys) == 0 {
		return append(keys, kp.base)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}
