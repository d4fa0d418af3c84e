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
	// valueRecv: t is a pointer and its key method has a value receiver.
	valueRecv bool
	typ       string // t.String()
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
	spec.typ = t.String()
	if t.Kind() == reflect.Pointer {
		spec.valueRecv = (spec.multi && st.Implements(multiProviderType)) || (!spec.multi && spec.single && st.Implements(keyProviderType))
	}
	if st.Kind() != reflect.Struct {
		return spec, nil
	}
	marker, err := findMarker(t, st)
	if err != nil {
		spec.hasMarker = true // twice, ambiguously
		return spec, err
	}
	if err := checkReceivers(t, spec); err != nil {
		spec.hasMarker = marker.found
		return spec, err
	}
	if marker.found {
		spec.hasMarker = true
		if spec.tag, err = parseTag(t, marker.path, marker.tag); err != nil {
			return spec, err
		}
	}
	for i := range st.NumField() {
		f := st.Field(i)
		tag, tagged := f.Tag.Lookup("lock")
		if !tagged || isMarker(f) {
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

// checkReceivers refuses a value type whose LockKey or LockKeys is declared
// on the pointer: the value's method set lacks it, so every message would
// silently share one type-wide lock.
func checkReceivers(t reflect.Type, spec typeSpec) error {
	if t.Kind() == reflect.Pointer {
		return nil
	}
	pt := reflect.PointerTo(t)
	for _, m := range []struct {
		name, result string
		has          bool
		iface        reflect.Type
	}{{"LockKey", "string", spec.single, keyProviderType}, {"LockKeys", "[]string", spec.multi, multiProviderType}} {
		if !m.has && pt.Implements(m.iface) {
			return &KeyMethodError{Type: t.String(), Method: m.name, Result: m.result}
		}
	}
	return nil
}

// isMarker reports whether f is a DistributedLock marker field: the type
// itself or a pointer to it.
func isMarker(f reflect.StructField) bool {
	return f.Type == markerType || (f.Type.Kind() == reflect.Pointer && f.Type.Elem() == markerType)
}

// marker is where findMarker found the DistributedLock marker.
type marker struct {
	found bool
	path  string // "DistributedLock", "Base.DistributedLock"
	tag   string // its lock tag
}

// findMarker finds the DistributedLock marker of the struct st where Go's
// promotion rules would: the shallowest embedded DistributedLock (or
// *DistributedLock), through embedded structs and pointers to structs at any
// depth. Two at the shallowest depth are ambiguous, so Go promotes neither:
// Build refuses the type rather than pick one. A field of the marker's type
// that is not embedded is a marker too when it is a direct field of st (it
// was always read that way).
func findMarker(t, st reflect.Type) (marker, error) {
	type level struct {
		typ  reflect.Type
		path string
	}
	current := []level{{typ: st}}
	seen := map[reflect.Type]bool{st: true}
	for depth := 0; len(current) > 0; depth++ {
		var found []marker
		var next []level
		for _, l := range current {
			for i := range l.typ.NumField() {
				f := l.typ.Field(i)
				if isMarker(f) && (f.Anonymous || depth == 0) {
					found = append(found, marker{found: true, path: l.path + f.Name, tag: f.Tag.Get("lock")})
					continue
				}
				if !f.Anonymous {
					continue
				}
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct && !seen[ft] {
					seen[ft] = true
					next = append(next, level{typ: ft, path: l.path + f.Name + "."})
				}
			}
		}
		switch len(found) {
		case 0:
			current = next
		case 1:
			return found[0], nil
		default:
			paths := make([]string, len(found))
			for i, m := range found {
				paths[i] = m.path
			}
			return marker{}, &TagError{Type: t.String(), Field: found[0].path, Word: found[1].path,
				Reason: "the type carries the DistributedLock marker twice at the same depth (" + strings.Join(paths, ", ") + "): keep one"}
		}
	}
	return marker{}, nil
}

// parseTag parses "prefix=payment,timeout=15s,throw=false". Every bad word
// is reported, all in one *TagError naming the type; never a panic.
func parseTag(t reflect.Type, field, tag string) (lockTag, error) {
	var lt lockTag
	var bad []TagProblem
	if strings.TrimSpace(tag) == "" {
		return lt, nil
	}
	for word := range strings.SplitSeq(tag, ",") {
		word = strings.TrimSpace(word)
		if reason := parseWord(&lt, word); reason != "" {
			bad = append(bad, TagProblem{Word: word, Reason: reason})
		}
	}
	if len(bad) > 0 {
		return lockTag{}, &TagError{Type: t.String(), Field: field, Word: bad[0].Word, Reason: bad[0].Reason, More: bad[1:]}
	}
	return lt, nil
}

// parseWord applies one word of a tag to lt, or says what is wrong with it.
func parseWord(lt *lockTag, word string) (reason string) {
	name, value, ok := strings.Cut(word, "=")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok {
		return "want name=value with name prefix, timeout or throw"
	}
	switch name {
	case "prefix":
		if lt.hasPrefix {
			return "prefix given twice: keep one"
		}
		if value == "" {
			return "empty prefix: name one (prefix=account) or drop the word for the type's name"
		}
		lt.prefix, lt.hasPrefix = value, true
	case "timeout":
		if lt.hasTimeout {
			return "timeout given twice: keep one"
		}
		d, err := parseTimeout(value)
		if err != nil {
			return err.Error()
		}
		lt.timeout, lt.hasTimeout = d, true
	case "throw":
		if lt.hasThrow {
			return "throw given twice: keep one"
		}
		b, err := strconv.ParseBool(value)
		if err != nil {
			return "throw must be true or false"
		}
		lt.throw, lt.hasThrow = b, true
	default:
		return fmt.Sprintf("unknown word %q (want prefix, timeout or throw)", name)
	}
	return ""
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
