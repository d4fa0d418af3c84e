package registry_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/turbomediator/turbomediator-go/registry"
)

func entry(t *testing.T, r *registry.Registry, k keyed, typ reflect.Type) *registry.Entry {
	t.Helper()
	e, err := r.Entry(k.key, typ)
	if err != nil {
		t.Fatalf("Entry(%s): %v", k.name, err)
	}
	return e
}

func TestEntryIsCreatedOnceAndKeptInOrder(t *testing.T) {
	r := registry.New()
	b := entry(t, r, keyOf[t01](), reflect.TypeFor[t01]())
	a := entry(t, r, keyOf[t00](), reflect.TypeFor[t00]())
	if again := entry(t, r, keyOf[t01](), reflect.TypeFor[t01]()); again != b {
		t.Error("a second Entry call for t01 made a new entry")
	}
	if p := entry(t, r, keyOf[*t01](), reflect.TypeFor[*t01]()); p == b {
		t.Error("*t01 shares the entry of t01")
	}
	var order []string
	for _, e := range r.Entries() {
		order = append(order, e.Type.String())
	}
	if got := fmt.Sprint(order); got != "[registry_test.t01 registry_test.t00 *registry_test.t01]" {
		t.Errorf("Entries in order %s; want first registration first", got)
	}
	if e, ok := r.Lookup(registry.KeyOf[t00]()); !ok || e != a {
		t.Errorf("Lookup(t00) = %p, %v; want %p, true", e, ok, a)
	}
	if _, ok := r.Lookup(registry.KeyOf[t02]()); ok {
		t.Error("Lookup(t02) found an entry that was never made")
	}
	if e, ok := r.FindByType(reflect.TypeFor[*t01]()); !ok || e.Key != registry.KeyOf[*t01]() {
		t.Errorf("FindByType(*t01) = %v, %v", e, ok)
	}
	if _, ok := r.FindByType(reflect.TypeFor[t02]()); ok {
		t.Error("FindByType(t02) found an entry that was never made")
	}
}

func TestDuplicateHandler(t *testing.T) {
	r := registry.New()
	e := entry(t, r, keyOf[t10](), reflect.TypeFor[t10]())
	if err := e.SetHandler(registry.Registration{Value: 1, Source: "app/main.go:10"}); err != nil {
		t.Fatalf("first SetHandler: %v", err)
	}
	err := e.SetHandler(registry.Registration{Value: 2, Source: "app/wire.go:22"})
	var dup *registry.DuplicateError
	if !errors.As(err, &dup) {
		t.Fatalf("second SetHandler = %v; want a *DuplicateError", err)
	}
	if dup.Type != reflect.TypeFor[t10]() || dup.First != "app/main.go:10" || dup.Second != "app/wire.go:22" {
		t.Errorf("DuplicateError = %+v", *dup)
	}
	want := "registry: duplicate handler for registry_test.t10: registered at app/main.go:10 and again at app/wire.go:22"
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
	if e.Handler.Value != 1 || e.Handler.Source != "app/main.go:10" {
		t.Errorf("the duplicate replaced the first handler: %+v", *e.Handler)
	}
}

func TestOptionsStayWithTheirType(t *testing.T) {
	type lockKey struct{}
	type retryKey struct{}
	r := registry.New()
	a := entry(t, r, keyOf[t00](), reflect.TypeFor[t00]())
	b := entry(t, r, keyOf[t01](), reflect.TypeFor[t01]())
	a.AddOption(lockKey{}, "a1")
	b.AddOption(lockKey{}, "b1")
	a.AddOption(lockKey{}, "a2")
	a.AddOption(retryKey{}, 3)
	for _, c := range []struct {
		e    *registry.Entry
		key  any
		want string
	}{
		{a, lockKey{}, "[a1 a2]"},
		{b, lockKey{}, "[b1]"},
		{a, retryKey{}, "[3]"},
		{b, retryKey{}, "[]"},
	} {
		if got := fmt.Sprint(c.e.Options(c.key)); got != c.want {
			t.Errorf("%s.Options(%T) = %s; want %s", c.e.Type, c.key, got, c.want)
		}
	}
}

func TestFreezeStopsRegistration(t *testing.T) {
	r := registry.New()
	entry(t, r, keyOf[t00](), reflect.TypeFor[t00]())
	if r.Frozen() {
		t.Fatal("new registry is frozen")
	}
	r.Freeze()
	if !r.Frozen() {
		t.Fatal("Freeze did not freeze")
	}
	if e, err := r.Entry(registry.KeyOf[t01](), reflect.TypeFor[t01]()); !errors.Is(err, registry.ErrFrozen) || e != nil {
		t.Errorf("Entry after Freeze = %v, %v; want nil, ErrFrozen", e, err)
	}
	// An existing entry cannot be reached for writing either.
	if _, err := r.Entry(registry.KeyOf[t00](), reflect.TypeFor[t00]()); !errors.Is(err, registry.ErrFrozen) {
		t.Errorf("Entry(existing) after Freeze = %v; want ErrFrozen", err)
	}
	if want := "registry: frozen: nothing can be registered after Build"; registry.ErrFrozen.Error() != want {
		t.Errorf("ErrFrozen = %q; want %q", registry.ErrFrozen, want)
	}
	if len(r.Entries()) != 1 {
		t.Errorf("%d entries after Freeze; want 1", len(r.Entries()))
	}
}
