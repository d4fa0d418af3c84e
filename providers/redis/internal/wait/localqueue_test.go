package wait

import (
	"testing"
	"time"
)

// woken reports whether w holds a wake-up, taking it.
func woken(w *LocalWaiter) bool {
	select {
	case <-w.Wake:
		return true
	default:
		return false
	}
}

func TestRedlockLocalQueueWakesTheHeadOnlyInArrivalOrder(t *testing.T) {
	lq := NewLocalQueues()
	a, headA := lq.Join("k", "")
	b, headB := lq.Join("k", "")
	c, _ := lq.Join("k", "")
	if !headA || headB {
		t.Fatalf("head at join: a %v, b %v; want a only", headA, headB)
	}
	if !lq.Queued("k") || lq.Queued("other") {
		t.Fatal("queued: want k only")
	}
	lq.WakeHead("k")
	lq.WakeHead("k") // a second release before a tries: one wake-up is kept
	if !woken(a) || woken(a) || woken(b) || woken(c) {
		t.Fatal("a release must wake the head, once, and nobody else")
	}
	// a gets the lock: the next release is b's, not before.
	lq.Leave("k", a, true)
	if woken(b) {
		t.Fatal("the head's acquisition woke the next waiter")
	}
	if !lq.IsHead("k", b) {
		t.Fatal("b is not the head after a left")
	}
	lq.WakeHead("k")
	if !woken(b) || woken(c) {
		t.Fatal("the release after a's did not wake b alone")
	}
}

func TestRedlockLocalQueueHeadThatGivesUpWakesTheNext(t *testing.T) {
	lq := NewLocalQueues()
	a, _ := lq.Join("k", "")
	b, _ := lq.Join("k", "")
	c, _ := lq.Join("k", "")
	lq.Leave("k", b, false) // not the head: nothing to hand on
	if woken(a) || woken(c) {
		t.Fatal("a waiter behind the head gave up and woke someone")
	}
	lq.WakeHead("k")
	if !woken(a) {
		t.Fatal("the head was not woken")
	}
	// a took its wake-up, then timed out before trying: the release it was
	// woken for must reach c.
	lq.Leave("k", a, false)
	if !woken(c) {
		t.Fatal("the head gave up without waking the next waiter")
	}
	lq.Leave("k", c, false)
	if len(lq.m) != 0 {
		t.Fatalf("%d queues left with nobody waiting", len(lq.m))
	}
	lq.WakeHead("k") // nobody waits: nothing happens
	lq.Leave("k", c, false)
}

// A release with nobody waiting on any key neither wakes nor claims anyone,
// and does not take the queues' lock to find that out (here held by the
// test: the old code blocked on it); once somebody waits, it does again.
func TestAReleaseWithNobodyWaitingSkipsTheLock(t *testing.T) {
	lq := NewLocalQueues()
	w, _ := lq.Join("k", "owner")
	lq.Leave("k", w, true)
	done := make(chan *LocalWaiter)
	lq.mu.Lock()
	go func() {
		lq.WakeHead("k")
		done <- lq.ClaimHead("k")
	}()
	select {
	case claimed := <-done:
		if claimed != nil {
			t.Fatal("ClaimHead claimed a waiter of an empty queue")
		}
	case <-time.After(10 * time.Second):
		lq.mu.Unlock()
		t.Fatal("a release with nobody waiting waited for the queues' lock")
	}
	lq.mu.Unlock()

	a, _ := lq.Join("k", "owner")
	b, _ := lq.Join("other", "owner")
	lq.Leave("other", b, false)
	lq.WakeHead("k")
	if !woken(a) {
		t.Fatal("a release must wake the head once somebody waits")
	}
	lq.Park(a)
	if lq.ClaimHead("k") != a {
		t.Fatal("ClaimHead must claim the parked head")
	}
	lq.Unpark(a)
	lq.Leave("k", a, false)
	if n := lq.waiting.Load(); n != 0 {
		t.Fatalf("waiting = %d after everybody left, want 0", n)
	}
}

// TestRedlockLocalQueueGiveBackWakesOnlyAHeadThatTriedSince: a give-back of
// attempt n wakes the head only if the head asked the nodes after attempt n
// (it may have been refused by that grant); a head whose tries all came
// before, or a waiter behind it, is not woken, nor is a reused waiter by a
// number its previous use recorded.
func TestRedlockLocalQueueGiveBackWakesOnlyAHeadThatTriedSince(t *testing.T) {
	lq := NewLocalQueues()
	a, _ := lq.Join("k", "")
	b, _ := lq.Join("k", "")
	lq.WakeHeadTriedAfter("k", 0) // a has not tried yet
	if woken(a) {
		t.Fatal("a head that never tried was woken")
	}
	a.Trying(5)
	lq.WakeHeadTriedAfter("k", 5) // the give-back of a's own try 5
	lq.WakeHeadTriedAfter("k", 7)
	if woken(a) {
		t.Fatal("the give-back of the head's latest try, or of a later one, woke it")
	}
	lq.WakeHeadTriedAfter("k", 4)
	if !woken(a) || woken(b) {
		t.Fatal("the give-back of a try before the head's latest must wake the head alone")
	}
	lq.WakeHeadTriedAfter("other", 0)
	lq.Leave("k", a, true)
	b.Trying(9)
	lq.Leave("k", b, false)
	c, _ := lq.Join("k", "") // b's waiter, reused
	lq.WakeHeadTriedAfter("k", 8)
	if woken(c) {
		t.Fatal("a reused waiter kept the try number of its previous use")
	}
	lq.Leave("k", c, false)
}
