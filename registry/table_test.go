package registry_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/turbomediator/turbomediator-go/registry"
)

// Many distinct types, to fill a table past its first sizes.
type (
	t00 struct{}
	t01 struct{}
	t02 struct{}
	t03 struct{}
	t04 struct{}
	t05 struct{}
	t06 struct{}
	t07 struct{}
	t08 struct{}
	t09 struct{}
	t10 struct{ A int }
	t11 struct{ A string }
	t12 [3]int
	t13 []string
	t14 map[string]int
	t15 func()
	t16 chan int
	t17 int
	t18 string
	t19 interface{ M() }
)

// keyed pairs a type's Key with its name, the value a table stores for it.
type keyed struct {
	key  registry.Key
	name string
}

func keyOf[T any]() keyed { return keyed{registry.KeyOf[T](), reflect.TypeFor[T]().String()} }

func manyKeys() []keyed {
	return []keyed{
		keyOf[t00](), keyOf[t01](), keyOf[t02](), keyOf[t03](), keyOf[t04](),
		keyOf[t05](), keyOf[t06](), keyOf[t07](), keyOf[t08](), keyOf[t09](),
		keyOf[t10](), keyOf[t11](), keyOf[t12](), keyOf[t13](), keyOf[t14](),
		keyOf[t15](), keyOf[t16](), keyOf[t17](), keyOf[t18](), keyOf[t19](),
		keyOf[*t00](), keyOf[**t00](), keyOf[*t10](), keyOf[[]t00](), keyOf[int](),
		keyOf[string](), keyOf[*int](), keyOf[any](), keyOf[error](), keyOf[struct{}](),
	}
}

func TestKeyOfIsStableAndDistinct(t *testing.T) {
	first, second := registry.KeyOf[t00](), keyOf[t00]().key
	if first != second {
		t.Error("KeyOf[t00] differs between calls")
	}
	if registry.KeyOf[t00]() == registry.KeyOf[*t00]() {
		t.Error("KeyOf[T] equals KeyOf[*T]")
	}
	if registry.KeyOf[t17]() == registry.KeyOf[int]() {
		t.Error("a named type has the key of its underlying type")
	}
	seen := map[registry.Key]string{}
	for _, k := range manyKeys() {
		if k.key.IsZero() {
			t.Errorf("KeyOf[%s] is the zero Key", k.name)
		}
		if prev, dup := seen[k.key]; dup {
			t.Errorf("KeyOf[%s] == KeyOf[%s]", k.name, prev)
		}
		seen[k.key] = k.name
	}
	if !(registry.Key{}).IsZero() {
		t.Error("zero Key is not IsZero")
	}
}

func TestKeyType(t *testing.T) {
	for _, k := range manyKeys() {
		if got := k.key.Type(); got == nil || got.String() != k.name {
			t.Errorf("KeyOf[%s]().Type() = %v", k.name, got)
		}
	}
	if got := registry.KeyOf[*t00]().Type(); got != reflect.TypeFor[*t00]() {
		t.Errorf("KeyOf[*t00]().Type() = %v; want *registry_test.t00", got)
	}
	if got := (registry.Key{}).Type(); got != nil {
		t.Errorf("zero Key's Type = %v; want nil", got)
	}
	if got := registry.TypeOf[t10](); got != reflect.TypeFor[t10]() {
		t.Errorf("TypeOf[t10] = %v", got)
	}
}

func TestTableLookupFindsEveryKey(t *testing.T) {
	all := manyKeys()
	// Tables of every size from 1 to all, each holding a prefix of the keys:
	// the rest must be reported absent.
	for n := 1; n <= len(all); n++ {
		m := make(map[registry.Key]any, n)
		for _, k := range all[:n] {
			m[k.key] = k.name
		}
		table := registry.NewTable(m)
		if got := table.Len(); got != n {
			t.Fatalf("table of %d keys has Len %d", n, got)
		}
		for i, k := range all {
			v, ok := table.Lookup(k.key)
			got := table.Get(k.key)
			if i < n {
				if !ok || v != k.name || got != k.name {
					t.Errorf("table of %d: Lookup(%s) = %v, %v; Get = %v; want %q, true", n, k.name, v, ok, got, k.name)
				}
			} else if ok || v != nil || got != nil {
				t.Errorf("table of %d: Lookup(%s) = %v, %v; Get = %v; want nil, false", n, k.name, v, ok, got)
			}
		}
		if v, ok := table.Lookup(registry.Key{}); ok || v != nil {
			t.Errorf("table of %d: Lookup(zero Key) = %v, %v; want nil, false", n, v, ok)
		}
	}
}

func TestTableDistinguishesValueAndPointerKeys(t *testing.T) {
	table := registry.NewTable(map[registry.Key]any{
		registry.KeyOf[t10]():  "value",
		registry.KeyOf[*t10](): "pointer",
	})
	for key, want := range map[registry.Key]string{
		registry.KeyOf[t10]():   "value",
		registry.KeyOf[*t10]():  "pointer",
		registry.KeyOf[**t10](): "<nil>",
	} {
		if got := fmt.Sprint(table.Get(key)); got != want {
			t.Errorf("Get(%v) = %s; want %s", key.Type(), got, want)
		}
	}
}

func TestEmptyTable(t *testing.T) {
	for name, table := range map[string]registry.Table{
		"zero Table":     {},
		"NewTable(nil)":  registry.NewTable(nil),
		"NewTable({})":   registry.NewTable(map[registry.Key]any{}),
		"only nil value": registry.NewTable(map[registry.Key]any{registry.KeyOf[t00](): nil}),
		"only zero key":  registry.NewTable(map[registry.Key]any{{}: "x"}),
	} {
		if n := table.Len(); n != 0 {
			t.Errorf("%s: Len = %d; want 0", name, n)
		}
		for _, k := range append(manyKeys(), keyed{name: "zero"}) {
			if v, ok := table.Lookup(k.key); ok || v != nil {
				t.Errorf("%s: Lookup(%s) = %v, %v; want nil, false", name, k.name, v, ok)
			}
		}
	}
}

func TestNewTableDoesNotRetainTheMap(t *testing.T) {
	m := map[registry.Key]any{registry.KeyOf[t00](): "before"}
	table := registry.NewTable(m)
	m[registry.KeyOf[t00]()] = "after"
	m[registry.KeyOf[t01]()] = "added"
	if got := table.Get(registry.KeyOf[t00]()); got != "before" {
		t.Errorf("Get(t00) = %v; want %q", got, "before")
	}
	if got := table.Get(registry.KeyOf[t01]()); got != nil {
		t.Errorf("Get(t01) = %v; want nil", got)
	}
}

func TestTableLookupDoesNotAllocate(t *testing.T) {
	m := map[registry.Key]any{}
	for _, k := range manyKeys() {
		m[k.key] = k.name
	}
	table := registry.NewTable(m)
	key := registry.KeyOf[t07]()
	if allocs := testing.AllocsPerRun(1000, func() {
		if table.Get(key) == nil {
			panic("t07 missing")
		}
		_ = registry.KeyOf[*t10]()
	}); allocs != 0 {
		t.Errorf("Get and KeyOf allocate %v times per run; want 0", allocs)
	}
}

func BenchmarkTableGet(b *testing.B) {
	m := map[registry.Key]any{}
	for _, k := range manyKeys() {
		m[k.key] = k.name
	}
	table := registry.NewTable(m)
	keys := manyKeys()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if table.Get(keys[i%len(keys)].key) == nil {
			b.Fatal("missing key")
		}
	}
}
