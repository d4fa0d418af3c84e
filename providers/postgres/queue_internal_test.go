package postgres

import "testing"

// TestQueuesHandTheTurnOnInOrderAndForgetEmptyKeys: the first to join is
// the head; a head leaving makes the next one the head; a waiter behind the
// head leaving changes nothing for the head; an emptied key is gone.
func TestQueuesHandTheTurnOnInOrderAndForgetEmptyKeys(t *testing.T) {
	q := newQueues()
	a, head := q.join("k")
	if !head || !closed(a.turn) {
		t.Fatal("the first waiter is not the head")
	}
	b, head := q.join("k")
	c, _ := q.join("k")
	if head || closed(b.turn) || closed(c.turn) {
		t.Fatal("a later waiter was given the turn")
	}
	q.leave("k", b) // gives up before its turn
	if closed(c.turn) {
		t.Fatal("a waiter behind the head leaving gave the turn away")
	}
	q.leave("k", a)
	if !closed(c.turn) {
		t.Fatal("the head leaving did not hand the turn to the next waiter")
	}
	if q.count("k") != 1 {
		t.Fatalf("count = %d, want 1", q.count("k"))
	}
	q.leave("k", c)
	if q.size() != 0 {
		t.Fatalf("%d keys left after every waiter left", q.size())
	}
	for i := range 100000 {
		w, _ := q.join(string(rune(i)))
		q.leave(string(rune(i)), w)
	}
	if q.size() != 0 {
		t.Fatalf("%d keys left behind by 100000 join/leave pairs", q.size())
	}
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
