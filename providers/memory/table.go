package memory

// table is a shard's keys: an open-addressing hash table of the key states,
// probed linearly from the key's hash. The provider hashes a key once per
// TryAcquire (the same hash picks the shard) and keeps the hash in the key's
// state, so its release finds the slot without hashing again; a Go map would
// hash the key for the lookup, the insert and the delete.
//
// Deleting shifts the following entries back instead of leaving tombstones,
// so a table that once held many keys and now holds none is all empty slots,
// and the shard drops such a table.
type table struct {
	slots []slot // len is 0 or a power of two
	count int
}

// slot is one entry: st is nil in an empty slot.
type slot struct {
	hash uint64
	st   *keyState
}

const (
	// minSlots is the size of a new table.
	minSlots = 8
	// dropSlots is the size above which an emptied table is dropped, since it
	// would keep its memory otherwise: a burst of many keys leaves nothing
	// behind but tables of at most dropSlots slots (256 bytes), while a shard
	// holding a handful of keys (up to 12) never remakes its table.
	dropSlots = 16
)

// find returns the state of key, whose hash is h, or nil.
func (t *table) find(h uint64, key string) *keyState {
	if len(t.slots) == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.st == nil {
			return nil
		}
		if s.hash == h && s.st.key == key {
			return s.st
		}
	}
}

// insert adds st, whose key is not in the table, under st.hash.
func (t *table) insert(st *keyState) {
	if (t.count+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	t.place(st.hash, st)
	t.count++
}

// place puts st in the first empty slot from h on.
func (t *table) place(h uint64, st *keyState) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].st != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = slot{hash: h, st: st}
}

func (t *table) grow() {
	old := t.slots
	t.slots = make([]slot, max(minSlots, 2*len(old)))
	for _, s := range old {
		if s.st != nil {
			t.place(s.hash, s.st)
		}
	}
}

// remove deletes st, which is in the table. Each entry after it in the same
// run of full slots moves back into the hole when the hole lies between the
// entry's home slot and its slot (cyclically), so every key stays reachable
// from its home slot without a tombstone.
func (t *table) remove(st *keyState) {
	mask := uint64(len(t.slots) - 1)
	i := st.hash & mask
	for t.slots[i].st != st {
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.slots[j].st != nil; j = (j + 1) & mask {
		home := t.slots[j].hash & mask
		// The entry at j may fill the hole at i unless its home lies in the
		// cyclic range (i, j].
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot{}
	t.count--
	if t.count == 0 && len(t.slots) > dropSlots {
		t.slots = nil
	}
}
