package locking

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// lockTag is the parsed tag of a DistributedLock marker; has* say which
// words were given, so absent words fall back to the defaults.
type lockTag struct {
	prefix     string
	timeout    time.Duration
	throw      bool
	hasPrefix  bool
	hasTimeout bool
	hasThrow   bool
}

// typeSpec is everything the locking behavior learns from a message type's
// declaration, once, at Build.
type typeSpec struct {
	name      string // the type's name, the default prefix
	hasMarker bool
	tag       lockTag
	keyFields []keyField
	single    bool // implements KeyProvider
	multi     bool // implements MultiKeyProvider
}

var (
	markerType        = reflect.TypeFor[DistributedLock]()
	keyProviderType   = reflect.TypeFor[KeyProvider]()
	multiProviderType = reflect.TypeFor[MultiKeyProvider]()
)

// inspect reads t's marker tag, key fields and key methods. t is a struct or
// a pointer to one.
func inspect(t reflect.Type) (typeSpec, error) {
	st := t
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	spec := typeSpec{
		name:   st.Name(),
		single: t.Implements(keyProviderType),
		multi:  t.Implements(multiProviderType),
	}
	if spec.name == "" {
		spec.name = st.String()
	}
	if st.Kind() != reflect.Struct {
		return spec, nil
	}
	var markerField string
	for i := range st.NumField() {
		f := st.Field(i)
		tag, tagged := f.Tag.Lookup("lock")
		if f.Type == markerType {
			if spec.hasMarker {
				return spec, &TagError{Type: t.String(), Field: f.Name, Word: string(f.Tag), Reason: "a second DistributedLock marker (the first is " + markerField + ")"}
			}
			spec.hasMarker = true
			markerField = f.Name
			parsed, err := parseTag(t, f.Name, tag)
			if err != nil {
				return spec, err
			}
			spec.tag = parsed
			continue
		}
		if !tagged {
			continue
		}
		if strings.TrimSpace(tag) != "key" {
			return spec, &TagError{Type: t.String(), Field: f.Name, Word: tag, Reason: `only "key" may tag a field other than the DistributedLock marker`}
		}
		kf, err := newKeyField(f)
		if err != nil {
			return spec, &TagError{Type: t.String(), Field: f.Name, Word: f.Type.String(), Reason: err.Error()}
		}
		spec.keyFields = append(spec.keyFields, kf)
	}
	if len(spec.keyFields) > 0 && (spec.single || spec.multi) {
		return spec, &TagError{Type: t.String(), Field: spec.keyFields[0].name, Word: "key", Reason: "the type also has a LockKey or LockKeys method: use one key source"}
	}
	return spec, nil
}

// parseTag parses "prefix=payment,timeout=15s,throw=false". Every problem is
// an error naming the type and the word, never a panic.
func parseTag(t reflect.Type, field, tag string) (lockTag, error) {
	var lt lockTag
	bad := func(word, reason string) error {
		return &TagError{Type: t.String(), Field: field, Word: word, Reason: reason}
	}
	if strings.TrimSpace(tag) == "" {
		return lt, nil
	}
	for word := range strings.SplitSeq(tag, ",") {
		word = strings.TrimSpace(word)
		name, value, ok := strings.Cut(word, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok {
			return lt, bad(word, "want name=value with name prefix, timeout or throw")
		}
		switch name {
		case "prefix":
			if lt.hasPrefix {
				return lt, bad(word, "prefix given twice")
			}
			if value == "" {
				return lt, bad(word, "empty prefix")
			}
			lt.prefix, lt.hasPrefix = value, true
		case "timeout":
			if lt.hasTimeout {
				return lt, bad(word, "timeout given twice")
			}
			d, err := parseTimeout(value)
			if err != nil {
				return lt, bad(word, err.Error())
			}
			lt.timeout, lt.hasTimeout = d, true
		case "throw":
			if lt.hasThrow {
				return lt, bad(word, "throw given twice")
			}
			b, err := strconv.ParseBool(value)
			if err != nil {
				return lt, bad(word, "throw must be true or false")
			}
			lt.throw, lt.hasThrow = b, true
		default:
			return lt, bad(word, fmt.Sprintf("unknown word %q (want prefix, timeout or throw)", name))
		}
	}
	return lt, nil
}

// parseTimeout accepts whole seconds ("15") or a Go duration ("250ms").
func parseTimeout(s string) (time.Duration, error) {
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(1<<63-1)/int64(time.Second) {
			return 0, fmt.Errorf("timeout %s seconds is too long", s)
		}
		d = time.Duration(n) * time.Second
	} else {
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("timeout must be a Go duration (15s, 250ms) or whole seconds")
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("timeout must not be negative")
	}
	return d, nil
}
