package memory

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestTableMatchesAMap drives a table with hashes from a tiny range, so keys
// collide, runs of full slots wrap around the end, and removals shift entries
// back across the wrap, and checks it against a map after every step.
func TestTableMatchesAMap(t *testing.T) {
	for _, hashes := range []uint64{1, 3, 16, 1 << 40} {
		rng := rand.New(rand.NewPCG(hashes, 1))
		var tb table
		model := map[string]*keyState{}
		hashOf := func(key string) uint64 {
			n, _ := strconv.Atoi(key[1:])
			// Equal bottom bits for many keys; some differ only in the top.
			return uint64(n)%hashes | uint64(n%4)<<62
		}
		for step := range 20_000 {
			key := "k" + strconv.Itoa(rng.IntN(300))
			if st := model[key]; st != nil && rng.IntN(3) > 0 {
				tb.remove(st)
				delete(model, key)
			} else if st == nil {
				st := &keyState{key: key, hash: hashOf(key)}
				tb.insert(st)
				model[key] = st
			}
			if tb.count != len(model) {
				t.Fatalf("hashes=%d step %d: count %d, model %d", hashes, step, tb.count, len(model))
			}
			if step%97 == 0 || len(model) < 4 {
				for i := range 300 {
					k := "k" + strconv.Itoa(i)
					if got, want := tb.find(hashOf(k), k), model[k]; got != want {
						t.Fatalf("hashes=%d step %d: find(%s) = %p, want %p", hashes, step, k, got, want)
					}
				}
			}
		}
		for _, st := range model {
			tb.remove(st)
		}
		if tb.count != 0 || len(tb.slots) > dropSlots {
			t.Fatalf("hashes=%d: emptied table keeps count %d, %d slots", hashes, tb.count, len(tb.slots))
		}
	}
}
