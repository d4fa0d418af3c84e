package registry

// Table is a frozen map from Key to a value, built once by [NewTable] and
// read concurrently without locks. It uses open addressing with linear probing
// and Fibonacci hashing of the key's pointer; the table is at most half full,
// so a lookup usually touches one slot.
type Table struct {
	slots []slot
	shift uint
	mask  uintptr
}

type slot struct {
	key Key
	val any
}

// fibonacci is 2^64 divided by the golden ratio: multiplying by it spreads the
// low-entropy, aligned pointers across the high bits we keep.
const fibonacci = 0x9E3779B97F4A7C15

// NewTable freezes m into a Table. m is not retained. The zero Key and nil
// values are left out: a Table tells a present key by its non-nil value.
func NewTable(m map[Key]any) Table {
	n := 0
	for k, v := range m {
		if k.p != nil && v != nil {
			n++
		}
	}
	if n == 0 {
		return Table{}
	}
	bits := uint(1)
	for 1<<bits < 2*n {
		bits++
	}
	t := Table{slots: make([]slot, 1<<bits), shift: 64 - bits, mask: 1<<bits - 1}
	for k, v := range m {
		if k.p == nil || v == nil {
			continue
		}
		i := t.home(k)
		for t.slots[i].key.p != nil {
			i = (i + 1) & t.mask
		}
		t.slots[i] = slot{key: k, val: v}
	}
	return t
}

func (t *Table) home(k Key) uintptr {
	return uintptr(uint64(uintptr(k.p))*fibonacci>>(t.shift&63)) & t.mask
}

// Lookup returns the value stored for k and whether k is present.
func (t *Table) Lookup(k Key) (any, bool) {
	v := t.Get(k)
	return v, v != nil
}

// Get returns the value stored for k, or nil when k is absent. It is small
// enough to be inlined into Send. The bound check doubles as the test for an
// empty table (its mask is 0, so the home slot is 0 and 0 < 0 fails), and the
// zero Key matches only an empty slot, whose value is nil.
func (t *Table) Get(k Key) any {
	for i := t.home(k); i < uintptr(len(t.slots)); i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.key == k {
			return s.val
		}
		if s.key.p == nil {
			return nil
		}
	}
	return nil
}

// Len returns the number of keys in the table.
func (t *Table) Len() int {
	n := 0
	for i := range t.slots {
		if t.slots[i].key.p != nil {
			n++
		}
	}
	return n
}
