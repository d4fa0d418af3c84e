package redis

import "testing"

// woken reports whether w holds a wake-up, taking it.
func woken(w *localWaiter) bool {
	select {
	case <-w.wake:
		return true
	default:
		return false
	}
}

func TestRedlockLocalQueueWakesTheHeadOnlyInArrivalOrder(t *testing.T) {
	lq := newLocalQueues()
	a, headA := lq.join("k", "")
	b, headB := lq.join("k", "")
	c, _ := lq.join("k", "")
	if !headA || headB {
		t.Fatalf("head at join: a %v, b %v; want a only", headA, headB)
	}
	if !lq.queued("k") || lq.queued("other") {
		t.Fatal("queued: want k only")
	}
	lq.wakeHead("k")
	lq.wakeHead("k") // a second release before a tries: one wake-up is kept
	if !woken(a) || woken(a) || woken(b) || woken(c) {
		t.Fatal("a release must wake the head, once, and nobody else")
	}
	// a gets the lock: the next release is b's, not before.
	lq.leave("k", a, true)
	if woken(b) {
		t.Fatal("the head's acquisition woke the next waiter")
	}
	if !lq.isHead("k", b) {
		t.Fatal("b is not the head after a left")
	}
	lq.wakeHead("k")
	if !woken(b) || woken(c) {
		t.Fatal("the release after a's did not wake b alone")
	}
}

func TestRedlockLocalQueueHeadThatGivesUpWakesTheNext(t *testing.T) {
	lq := newLocalQueues()
	a, _ := lq.join("k", "")
	b, _ := lq.join("k", "")
	c, _ := lq.join("k", "")
	lq.leave("k", b, false) // not the head: nothing to hand on
	if woken(a) || woken(c) {
		t.Fatal("a waiter behind the head gave up and woke someone")
	}
	lq.wakeHead("k")
	if !woken(a) {
		t.Fatal("the head was not woken")
	}
	// a took its wake-up, then timed out before trying: the release it was
	// woken for must reach c.
	lq.leave("k", a, false)
	if !woken(c) {
		t.Fatal("the head gave up without waking the next waiter")
	}
	lq.leave("k", c, false)
	if len(lq.m) != 0 {
		t.Fatalf("%d queues left with nobody waiting", len(lq.m))
	}
	lq.wakeHead("k") // nobody waits: nothing happens
	lq.leave("k", c, false)
}
