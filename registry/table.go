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

// NewTable freezes m into a Table. m is not retained.
func NewTable(m map[Key]any) Table {
	if len(m) == 0 {
		return Table{}
	}
	bits := uint(1)
	for 1<<bits < 2*len(m) {
		bits++
	}
	t := Table{slots: make([]slot, 1<<bits), shift: 64 - bits, mask: 1<<bits - 1}
	for k, v := range m {
		i := t.home(k)
		for t.slots[i].key.p != nil {
			i = (i + 1) & t.mask
		}
		t.slots[i] = slot{key: k, val: v}
	}
	return t
}

func (t *Table) home(k Key) uintptr {
	return uintptr(uint64(uintptr(k.p))*fibonacci>>t.shift) & t.mask
}

// Lookup returns the value stored for k.
func (t *Table) Lookup(k Key) (any, bool) {
	if len(t.slots) == 0 {
		return nil, false
	}
	for i := t.home(k); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.key == k {
			return s.val, true
		}
		if s.key.p == nil {
			return nil, false
		}
	}
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
