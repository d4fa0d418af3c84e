package redis

import "testing"

func TestRedlockWakeupsWakeEveryWatcherAndLeaveNothingBehind(t *testing.T) {
	ws := wakeups{m: make(map[string]*wakeup)}
	a, b := ws.watch("k"), ws.watch("k")
	if a != b {
		t.Fatal("two watchers of one key got different wake-ups")
	}
	ws.wake("k")
	for _, w := range []*wakeup{a, b} {
		select {
		case <-w.ch:
		default:
			t.Fatal("a watcher was not woken")
		}
	}
	// A watcher that comes after the release waits for the next one, and a
	// late unwatch of the old wake-up does not drop it.
	c := ws.watch("k")
	if c == a {
		t.Fatal("a new watcher got the spent wake-up")
	}
	ws.unwatch("k", a)
	ws.unwatch("k", b)
	if ws.m["k"] != c {
		t.Fatal("unwatching a spent wake-up removed the current one")
	}
	ws.unwatch("k", c)
	ws.wake("other") // nobody watches: nothing happens
	if len(ws.m) != 0 {
		t.Fatalf("%d wake-ups left with nobody watching", len(ws.m))
	}
}
