package wait

import (
	"testing"
	"time"
)

// A Redlock waiter's place in a node's queue passes the node's wake-ups on
// through notify, and leaving it has no wake-up to take: the waiter's own
// queue (LocalQueues) hands one on.
func TestANotifyingPlaceCallsNotifyAndLeavesNothingToHandOn(t *testing.T) {
	ws := NewWaiters(nil, "self:", time.Second)
	ws.queues["c"] = &queue{ready: make(chan struct{})}
	calls := 0
	w, ok, err := ws.JoinSubscribedNotify("c", func() { calls++ })
	if !ok || err != nil {
		t.Fatalf("joinSubscribedNotify = %v, %v; want queued", ok, err)
	}
	other := &Waiter{channel: "c", wake: make(chan struct{}, 1)}
	if ok, err := ws.joinSubscribedWaiter(other); !ok || err != nil {
		t.Fatalf("joinSubscribedWaiter = %v, %v", ok, err)
	}
	ws.WakeHead("c")
	ws.wakeAll()
	if calls != 2 {
		t.Fatalf("notify called %d times, want 2 (wakeHead, wakeAll)", calls)
	}
	ws.mu.Lock()
	pending := ws.removeLocked(w)
	ws.mu.Unlock()
	if pending {
		t.Fatal("removeLocked reported a wake-up for a notifying place")
	}
	select {
	case <-other.wake: // from wakeAll only
	default:
		t.Fatal("wakeAll did not reach the other waiter")
	}
	select {
	case <-other.wake:
		t.Fatal("the notifying place handed a wake-up on")
	default:
	}
}

// A waiter of its own (single-node) that leaves with an unconsumed wake-up
// reports it, so that leave hands it on to the new head.
func TestLeavingWithAnOwnWakeUpReportsIt(t *testing.T) {
	ws := NewWaiters(nil, "self:", time.Second)
	q := &queue{ready: make(chan struct{})}
	ws.queues["c"] = q
	first := &Waiter{channel: "c", wake: make(chan struct{}, 1)}
	second := &Waiter{channel: "c", wake: make(chan struct{}, 1)}
	for _, w := range []*Waiter{first, second} {
		if ok, err := ws.joinSubscribedWaiter(w); !ok || err != nil {
			t.Fatalf("joinSubscribedWaiter = %v, %v", ok, err)
		}
	}
	poke(first)
	ws.Leave(first, false)
	select {
	case <-second.wake:
	default:
		t.Fatal("the wake-up of the head that gave up did not reach the next waiter")
	}
}
